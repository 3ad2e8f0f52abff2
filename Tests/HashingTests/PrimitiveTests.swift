import Hashing
import Testing

/// The libcrypto primitives age is built on, against their RFCs' published vectors.
@Suite struct PrimitiveTests {
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace }.utf8)
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
        }
    }

    @Test("HKDF-SHA-256 gives RFC 5869's test case 1 and 3 (empty salt and info)")
    func hkdf() throws {
        let okm = try hkdfSHA256(
            key: Self.bytes("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
            salt: Self.bytes("000102030405060708090a0b0c"),
            info: Self.bytes("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        #expect(okm.hexString == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        let empty = try hkdfSHA256(
            key: Self.bytes("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), salt: [], info: [], length: 42)
        #expect(
            empty.hexString == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    @Test("X25519 gives RFC 7748's Alice and Bob keys and shared secret, and refuses a low-order point")
    func x25519() throws {
        let alice = Self.bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let bob = Self.bytes("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        #expect(
            try X25519.publicKey(privateKey: alice).hexString
                == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        let bobPublic = try X25519.publicKey(privateKey: bob)
        #expect(bobPublic.hexString == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        #expect(
            try X25519.sharedSecret(privateKey: alice, peerPublicKey: bobPublic).hexString
                == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        #expect(throws: CryptoError.self) {
            try X25519.sharedSecret(privateKey: alice, peerPublicKey: [UInt8](repeating: 0, count: 32))
        }
    }

    @Test("ChaCha20-Poly1305 gives RFC 8439's AEAD vector without AAD, and refuses a changed tag or byte")
    func chacha() throws {
        // RFC 8439 §2.8.2's key, nonce and plaintext; no AAD, as age uses none. The expected
        // ciphertext is the RFC's (the keystream does not depend on AAD); the tag was computed
        // by the `cryptography` package's ChaCha20Poly1305 for the same inputs without AAD.
        let key = Self.bytes("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let nonce = Self.bytes("070000004041424344454647")
        let plaintext = Array(
            """
            Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen \
            would be it.
            """
            .utf8)
        let cipher = try ChaCha20Poly1305(key: key)
        let sealed = try cipher.seal(plaintext, nonce: nonce)
        #expect(sealed.prefix(16).hexString == "d31a8d34648e60db7b86afbc53ef7ec2")
        #expect(sealed.count == plaintext.count + 16)
        #expect(sealed.suffix(16).hexString == "6a23a4681fd59456aea1d29f82477216")
        #expect(try cipher.open(sealed, nonce: nonce) == plaintext)
        var changed = sealed
        changed[5] ^= 1
        #expect(try cipher.open(changed, nonce: nonce) == nil)
        changed = sealed
        changed[changed.count - 1] ^= 0x80
        #expect(try cipher.open(changed, nonce: nonce) == nil)
        #expect(try cipher.open(sealed, nonce: Self.bytes("070000004041424344454648")) == nil)
        let empty = try cipher.seal([], nonce: nonce)
        #expect(empty.count == 16)
        #expect(try cipher.open(empty, nonce: nonce) == [])
    }
}

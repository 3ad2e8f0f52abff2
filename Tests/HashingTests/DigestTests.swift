import Hashing
import Testing

/// SHA-256, MD5 and HMAC-SHA-256 over libcrypto, against the published vectors: everything a
/// backup's checksum, an S3 upload's Content-MD5 and its SigV4 signature rest on.
@Suite struct DigestTests {
    @Test("SHA-256 gives FIPS 180-2's vectors, also when fed in pieces")
    func sha256() {
        #expect(
            Digest.hash(.sha256, Array("abc".utf8)).hexString
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            Digest.hash(.sha256, [UInt8]()).hexString
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        var pieces = Digest(.sha256)
        for chunk in stride(from: 0, to: long.count, by: 7) { pieces.update(long[chunk..<min(long.count, chunk + 7)]) }
        #expect(pieces.finalize().hexString == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("MD5 gives RFC 1321's vectors")
    func md5() {
        #expect(Digest.hash(.md5, [UInt8]()).hexString == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(Digest.hash(.md5, Array("message digest".utf8)).hexString == "f96b697d7cb7938d525a2f31aaf161d0")
    }

    @Test("base64, as Content-MD5 carries a digest, gives RFC 4648's vectors")
    func base64() {
        for (text, encoded) in [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            #expect(Array(text.utf8).base64String == encoded, "\(text)")
        }
    }

    @Test("HMAC-SHA-256 gives RFC 4231's test cases 1 and 2")
    func hmac() {
        #expect(
            hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)).hexString
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)).hexString
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}

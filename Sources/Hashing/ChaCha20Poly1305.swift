import COpenSSL

/// ChaCha20-Poly1305 (RFC 8439) over libcrypto's EVP interface: one key, many messages, each
/// with its own 12-byte nonce. Sealed messages are the ciphertext followed by the 16-byte tag.
/// One value per stream (it keeps a cipher context); not for use from two threads at once.
public final class ChaCha20Poly1305 {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16

    private let context: OpaquePointer
    private let key: [UInt8]

    public init(key: [UInt8]) throws(CryptoError) {
        guard key.count == Self.keySize else { throw CryptoError("ChaCha20-Poly1305 (the key is not 32 bytes)") }
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError("EVP_CIPHER_CTX_new") }
        self.context = context
        self.key = key
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Encrypts `plaintext` into `output`, which must hold `plaintext.count + tagSize` bytes.
    public func seal(
        _ plaintext: UnsafeRawBufferPointer, nonce: [UInt8], into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        precondition(output.count >= plaintext.count + Self.tagSize, "seal: output too small")
        try start(nonce: nonce, encrypting: true)
        var length: Int32 = 0
        let out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if let input = plaintext.baseAddress, !plaintext.isEmpty {
            guard
                EVP_CipherUpdate(
                    context, out, &length, input.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1
            else {
                throw CryptoError("ChaCha20-Poly1305 encrypt")
            }
        }
        var tail: Int32 = 0
        guard EVP_CipherFinal_ex(context, out + Int(length), &tail) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagSize), out + plaintext.count) == 1
        else {
            throw CryptoError("ChaCha20-Poly1305 tag")
        }
    }

    /// Decrypts `sealed` (ciphertext then tag) into `output` (at least `sealed.count - tagSize`
    /// bytes). Returns false when the tag does not authenticate the message; what `output`
    /// holds then must not be used.
    public func open(
        _ sealed: UnsafeRawBufferPointer, nonce: [UInt8], into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) -> Bool {
        guard sealed.count >= Self.tagSize else { return false }
        let count = sealed.count - Self.tagSize
        precondition(output.count >= count, "open: output too small")
        try start(nonce: nonce, encrypting: false)
        let input = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let out = output.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) }
        var length: Int32 = 0
        if count > 0 {
            guard EVP_CipherUpdate(context, out, &length, input, Int32(count)) == 1 else {
                throw CryptoError("ChaCha20-Poly1305 decrypt")
            }
        }
        var tag = Array(UnsafeRawBufferPointer(rebasing: sealed[count...]))
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagSize), &tag) == 1 else {
            throw CryptoError("ChaCha20-Poly1305 set tag")
        }
        // The AEAD's final step writes no bytes; it only checks the tag.
        var tail: Int32 = 0
        var none: UInt8 = 0
        return withUnsafeMutablePointer(to: &none) { fallback in
            EVP_CipherFinal_ex(context, out.map { $0 + Int(length) } ?? fallback, &tail) == 1
        }
    }

    /// Seals a whole message held in memory.
    public func seal(_ plaintext: [UInt8], nonce: [UInt8]) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.tagSize)
        var failure: CryptoError?
        plaintext.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                do throws(CryptoError) { try seal(input, nonce: nonce, into: output) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Opens a whole message held in memory; nil when it does not authenticate.
    public func open(_ sealed: [UInt8], nonce: [UInt8]) throws(CryptoError) -> [UInt8]? {
        guard sealed.count >= Self.tagSize else { return nil }
        var out = [UInt8](repeating: 0, count: sealed.count - Self.tagSize)
        var result: Result<Bool, CryptoError> = .success(false)
        sealed.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                result = Result { () throws(CryptoError) in try open(input, nonce: nonce, into: output) }
            }
        }
        return try result.get() ? out : nil
    }

    private func start(nonce: [UInt8], encrypting: Bool) throws(CryptoError) {
        guard nonce.count == Self.nonceSize else { throw CryptoError("ChaCha20-Poly1305 (the nonce is not 12 bytes)") }
        guard EVP_CipherInit_ex(context, EVP_chacha20_poly1305(), nil, key, nonce, encrypting ? 1 : 0) == 1 else {
            throw CryptoError("ChaCha20-Poly1305 init")
        }
    }
}

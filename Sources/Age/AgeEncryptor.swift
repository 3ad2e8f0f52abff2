import Hashing

/// Writes the age v1 format (https://age-encryption.org/v1) to X25519 recipients, streaming:
/// the header (one stanza per recipient, a fresh ephemeral key each), a 16-byte nonce, then
/// the payload in 64 KiB ChaCha20-Poly1305 chunks (STREAM), the last one flagged final.
/// Memory is two chunk buffers whatever the input's size. `age -d -i KEY` reads the result.
///
/// Push plaintext with `encrypt(_:into:)`, end with `finish(into:)`; the sink receives the
/// encrypted bytes in order and must copy what it keeps (buffers are reused).
public final class AgeEncryptor {
    private var header: [UInt8]
    private let cipher: ChaCha20Poly1305
    private let plain: UnsafeMutableRawBufferPointer
    private let sealed: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var counter: UInt64 = 0
    private var finished = false

    public init(recipients: [AgeRecipient]) throws(AgeError) {
        guard !recipients.isEmpty else { throw AgeError(.crypto, "age encryption needs at least one recipient") }
        do {
            let fileKey = try secureRandomBytes(AgeFormat.fileKeySize)
            var header = AgeFormat.versionLine + [UInt8(ascii: "\n")]
            for recipient in recipients {
                header += try Self.stanza(wrapping: fileKey, to: recipient).encoded
            }
            header += Array("---".utf8)
            let mac = hmacSHA256(
                key: try hkdfSHA256(key: fileKey, salt: [], info: Array("header".utf8)), message: header)
            header += Array((" " + RawBase64.encode(mac) + "\n").utf8)
            let nonce = try secureRandomBytes(AgeFormat.payloadNonceSize)
            header += nonce
            self.header = header
            cipher = try ChaCha20Poly1305(key: try hkdfSHA256(key: fileKey, salt: nonce, info: Array("payload".utf8)))
        } catch {
            throw AgeError(.crypto, "age encryption could not start: \(error)")
        }
        plain = .allocate(byteCount: AgeFormat.chunkSize, alignment: 64)
        sealed = .allocate(byteCount: AgeFormat.chunkSize + AgeFormat.tagSize, alignment: 64)
    }

    deinit {
        plain.deallocate()
        sealed.deallocate()
    }

    /// An X25519 stanza: `-> X25519 <ephemeral share>` and the file key sealed with the key
    /// both sides derive from the shared secret.
    static func stanza(wrapping fileKey: [UInt8], to recipient: AgeRecipient) throws -> Stanza {
        let ephemeral = try secureRandomBytes(X25519.keySize)
        let share = try X25519.publicKey(privateKey: ephemeral)
        let secret = try X25519.sharedSecret(privateKey: ephemeral, peerPublicKey: recipient.publicKey)
        let wrapKey = try hkdfSHA256(key: secret, salt: share + recipient.publicKey, info: AgeFormat.x25519Label)
        let body = try ChaCha20Poly1305(key: wrapKey).seal(fileKey, nonce: [UInt8](repeating: 0, count: 12))
        return Stanza(arguments: ["X25519", RawBase64.encode(share)], body: body)
    }

    public func encrypt(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "encrypt after finish")
        try emitHeader(sink)
        var offset = 0
        while offset < input.count {
            // A full chunk is sealed only once more input shows it is not the last.
            if filled == AgeFormat.chunkSize { try seal(final: false, sink) }
            let count = min(input.count - offset, AgeFormat.chunkSize - filled)
            (plain.baseAddress! + filled).copyMemory(from: input.baseAddress! + offset, byteCount: count)
            filled += count
            offset += count
        }
    }

    /// Seals what is left as the final chunk (empty only if the whole payload is).
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "finish twice")
        try emitHeader(sink)
        try seal(final: true, sink)
        finished = true
    }

    private func emitHeader(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !header.isEmpty else { return }
        try header.withUnsafeBytes { try sink($0) }
        header = []
    }

    private func seal(final: Bool, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try cipher.seal(
            UnsafeRawBufferPointer(rebasing: plain[0..<filled]), nonce: chunkNonce(counter, final: final), into: sealed)
        try sink(UnsafeRawBufferPointer(rebasing: sealed[0..<(filled + AgeFormat.tagSize)]))
        counter += 1
        filled = 0
    }
}

/// STREAM's nonce: an 11-byte big-endian chunk counter, then 1 for the final chunk, else 0.
func chunkNonce(_ counter: UInt64, final: Bool) -> [UInt8] {
    [0, 0, 0] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: counter >> (8 * UInt64($0))) } + [final ? 1 : 0]
}

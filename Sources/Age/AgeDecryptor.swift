import Hashing

/// Reads the age v1 format with X25519 identities, streaming, and releases plaintext only
/// once it is authenticated: the header's MAC before any payload, each 64 KiB chunk's tag
/// before its bytes. Memory is the header (at most 1 MiB) and one chunk.
///
/// What it tells apart (`AgeError.Kind`): not age at all, a malformed header, a passphrase
/// file, the wrong identity (`noMatchingIdentity`), a changed header (`headerMAC`), a changed
/// or damaged payload (`damagedPayload`), a file cut short (`truncated`), bytes appended
/// (`trailingData`).
///
/// Push the file with `decrypt(_:into:)`, end with `finish(into:)` (which may release the
/// last chunk). The sink receives plaintext in order and must copy what it keeps.
public final class AgeDecryptor {
    private enum Phase {
        case header(HeaderReader)
        case nonce([UInt8], fileKey: [UInt8])
        case payload(ChaCha20Poly1305)
        case done
    }

    private let identities: [AgeIdentity]
    private var phase: Phase = .header(HeaderReader())
    private let chunk: UnsafeMutableRawBufferPointer
    private let plain: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var counter: UInt64 = 0
    /// Plaintext bytes released so far, for messages.
    public private(set) var released: Int64 = 0

    private static let sealedChunkSize = AgeFormat.chunkSize + AgeFormat.tagSize

    public init(identities: [AgeIdentity]) {
        self.identities = identities
        chunk = .allocate(byteCount: Self.sealedChunkSize, alignment: 64)
        plain = .allocate(byteCount: AgeFormat.chunkSize, alignment: 64)
    }

    deinit {
        chunk.deallocate()
        plain.deallocate()
    }

    public func decrypt(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < input.count {
            let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
            switch phase {
            case .header(var reader):
                phase = .done  // the reader alone holds its bytes while it grows them
                offset += try reader.feed(rest)
                phase = .header(reader)
                if reader.isComplete { phase = .nonce([], fileKey: try unwrap(reader)) }
            case .nonce(var nonce, let fileKey):
                let count = min(rest.count, AgeFormat.payloadNonceSize - nonce.count)
                nonce += rest[0..<count]
                offset += count
                if nonce.count == AgeFormat.payloadNonceSize {
                    phase = .payload(
                        try Self.crypto { () throws(CryptoError) in
                            try ChaCha20Poly1305(
                                key: try hkdfSHA256(key: fileKey, salt: nonce, info: Array("payload".utf8)))
                        })
                } else {
                    phase = .nonce(nonce, fileKey: fileKey)
                }
            case .payload(let cipher):
                // A full chunk is opened only once more input shows whether it is the last.
                if filled == Self.sealedChunkSize { try open(cipher, followed: true, sink) }
                let count = min(rest.count, Self.sealedChunkSize - filled)
                (chunk.baseAddress! + filled).copyMemory(from: rest.baseAddress!, byteCount: count)
                filled += count
                offset += count
            case .done:
                throw trailing()
            }
        }
    }

    /// The input ended: opens the last chunk, and refuses a file cut short.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch phase {
        case .header(let reader):
            try reader.finish()
        case .nonce:
            throw AgeError(.malformedHeader, "ends before the payload's nonce: the file was cut short")
        case .payload(let cipher):
            if filled == 0 {
                throw AgeError(
                    .truncated,
                    counter == 0
                        ? "ends right after its age header, without any payload: the file was cut short"
                        : """
                        ends after \(released) bytes of plaintext without the final chunk: the file was cut short \
                        (truncated)
                        """
                )
            }
            try open(cipher, followed: false, sink)
        case .done:
            break
        }
    }

    /// Opens the buffered chunk. `followed`: more input comes after it, so it should not be
    /// the final one (if it is, what follows is trailing data).
    private func open(
        _ cipher: ChaCha20Poly1305, followed: Bool, _ sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let sealed = UnsafeRawBufferPointer(rebasing: chunk[0..<filled])
        let full = filled == Self.sealedChunkSize
        var final = !followed
        var opened = false
        if filled >= AgeFormat.tagSize {
            opened = try Self.crypto { () throws(CryptoError) in
                try cipher.open(sealed, nonce: chunkNonce(counter, final: final), into: plain)
            }
            if !opened && full {
                // A full chunk may be the final one (as a final chunk followed by nothing may
                // also be a middle one whose successors were cut off: said as such below).
                final.toggle()
                opened = try Self.crypto { () throws(CryptoError) in
                    try cipher.open(sealed, nonce: chunkNonce(counter, final: final), into: plain)
                }
            }
        }
        guard opened else {
            throw AgeError(
                .damagedPayload,
                """
                fails authentication in payload chunk \(counter + 1) (after \(released) bytes of plaintext): the \
                file was changed or damaged\(followed ? "" : ", or cut short")
                """
            )
        }
        if final && filled == AgeFormat.tagSize && counter > 0 {
            throw AgeError(
                .damagedPayload,
                "has an empty final chunk after \(released) bytes, which age v1 forbids: the file is damaged")
        }
        // Authenticated: released even when what follows turns out wrong.
        let count = filled - AgeFormat.tagSize
        if count > 0 { try sink(UnsafeRawBufferPointer(rebasing: plain[0..<count])) }
        released += Int64(count)
        counter += 1
        filled = 0
        if !final && !followed {
            throw AgeError(
                .truncated,
                "ends after \(released) bytes of plaintext without the final chunk: the file was cut short (truncated)")
        }
        if final {
            phase = .done
            if followed { throw trailing() }
        }
    }

    private func trailing() -> AgeError {
        AgeError(
            .trailingData,
            """
            has data after the end of its age payload (after \(released) bytes of plaintext): something was \
            appended, or the file is damaged
            """
        )
    }

    /// The file key from the first stanza an identity opens, with the header's MAC checked.
    private func unwrap(_ header: HeaderReader) throws(AgeError) -> [UInt8] {
        let stanzas = header.stanzas
        if stanzas.contains(where: { $0.type == "scrypt" }) {
            throw AgeError(
                .passphrase,
                """
                was encrypted with a passphrase (age -p); dbbackup decrypts with X25519 identities only: decrypt \
                it with `age -d` first
                """
            )
        }
        var fileKey: [UInt8]?
        search: for stanza in stanzas where stanza.type == "X25519" {
            guard stanza.arguments.count == 2, let share = RawBase64.decode(Array(stanza.arguments[1].utf8)),
                share.count == 32
            else {
                throw AgeError(.malformedHeader, "is not a valid age file: an X25519 stanza's arguments are malformed")
            }
            guard stanza.body.count == AgeFormat.fileKeySize + AgeFormat.tagSize else {
                throw AgeError(.malformedHeader, "is not a valid age file: an X25519 stanza's body is not 32 bytes")
            }
            for identity in identities {
                let secret: [UInt8]
                do {
                    secret = try X25519.sharedSecret(privateKey: identity.secretKey, peerPublicKey: share)
                } catch {
                    throw AgeError(
                        .malformedHeader, "is not a valid age file: an X25519 stanza's share is a low-order point")
                }
                let opened = try Self.crypto { () throws(CryptoError) in
                    let wrapKey = try hkdfSHA256(
                        key: secret, salt: share + identity.recipient.publicKey, info: AgeFormat.x25519Label)
                    return try ChaCha20Poly1305(key: wrapKey).open(stanza.body, nonce: [UInt8](repeating: 0, count: 12))
                }
                if let opened {
                    fileKey = opened
                    break search
                }
            }
        }
        guard let fileKey else {
            let count = identities.count
            throw AgeError(
                .noMatchingIdentity,
                count == 0
                    ? "is encrypted (age); give the identity file that decrypts it (--identity FILE)"
                    : """
                    cannot be decrypted with the given identit\(count == 1 ? "y" : "ies") \
                    (\(identities.map(\.recipient.description).joined(separator: ", "))): it was encrypted to \
                    other recipients; give the right identity file
                    """
            )
        }
        let expected = try Self.crypto { () throws(CryptoError) in
            hmacSHA256(
                key: try hkdfSHA256(key: fileKey, salt: [], info: Array("header".utf8)),
                message: Array(header.bytes[0..<header.macInputCount]))
        }
        guard constantTimeEqual(expected, header.mac) else {
            throw AgeError(.headerMAC, "has an age header whose MAC does not match: the header was changed or damaged")
        }
        return fileKey
    }

    private static func crypto<T>(_ body: () throws(CryptoError) -> T) throws(AgeError) -> T {
        do { return try body() } catch { throw AgeError(.crypto, "age decryption failed: \(error)") }
    }
}

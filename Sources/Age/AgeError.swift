/// Why an age file cannot be decrypted (or written), in words that say whether the key is
/// wrong, the file was tampered with, or it was cut short.
public struct AgeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// It does not start with `age-encryption.org/`.
        case notAge
        /// ASCII-armored (`age -a`); dbbackup reads the binary form only.
        case armored
        /// `age-encryption.org/` with a version other than v1.
        case unsupportedVersion
        /// The header breaks the format (or ends early: the nonce is part of it here).
        case malformedHeader
        /// Encrypted with a passphrase (scrypt), which dbbackup does not take.
        case passphrase
        /// None of the identities can unwrap the file key: the wrong key.
        case noMatchingIdentity
        /// The header's MAC does not match: the header was changed.
        case headerMAC
        /// A payload chunk fails authentication: the data was changed or damaged.
        case damagedPayload
        /// The payload ends without its final chunk.
        case truncated
        /// Bytes follow the final chunk.
        case trailingData
        /// libcrypto failed (or the CSPRNG).
        case crypto
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    /// Whether the header, as opposed to a later part, is at fault (the C2SP test vectors'
    /// "header failure").
    public var isHeaderFailure: Bool { [.notAge, .armored, .unsupportedVersion, .malformedHeader].contains(kind) }
}

import Age
import SystemCalls
import Zstd

/// Why a backup could not be written in its stored form, or read back from it. `message` is
/// a whole sentence naming the file; `kind` lets restore choose its exit status and advice.
public struct EncodingError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Reading or writing a file failed (`systemError` says how; ENOSPC among them).
        case io
        /// The file is encrypted and no identity was given.
        case identityNeeded
        /// None of the identities given decrypts it.
        case wrongIdentity
        /// Changed or damaged: age's header MAC or a chunk's tag fails, a zstd frame checksum
        /// fails, or the data cannot be decoded.
        case damaged
        /// Cut short: it ends inside the age payload or a zstd frame.
        case truncated
        /// Made in a way dbbackup does not read: passphrase, ASCII armor, another age version,
        /// a zstd window beyond 128 MiB.
        case unsupported
        /// Its name says `.zst` or `.age`, its content says otherwise.
        case mismatchedName
        /// The input changed while it was read (the plain file's size moved).
        case inputChanged
        /// libzstd or libcrypto failed (out of memory, most likely).
        case failed
    }

    public let kind: Kind
    public let message: String
    public let systemError: SystemError?

    public init(_ kind: Kind, _ message: String, systemError: SystemError? = nil) {
        self.kind = kind
        self.message = message
        self.systemError = systemError
    }

    public var description: String { message }

    /// An age error about `file`; `inner`: about the plaintext inside it.
    static func age(_ error: AgeError, file: String) -> EncodingError {
        let kind: Kind =
            switch error.kind {
            case .notAge, .malformedHeader: .damaged
            case .armored, .unsupportedVersion, .passphrase: .unsupported
            case .noMatchingIdentity: .wrongIdentity
            case .headerMAC, .damagedPayload, .trailingData: .damaged
            case .truncated: .truncated
            case .crypto: .failed
            }
        return EncodingError(kind, "\(file) \(error.description)")
    }

    static func zstd(_ error: ZstdError, file: String, insideAge: Bool) -> EncodingError {
        let kind: Kind =
            switch error.kind {
            case .notZstd, .checksumMismatch, .corrupt: .damaged
            case .truncated: .truncated
            case .windowTooLarge: .unsupported
            case .sizeMismatch: .inputChanged
            case .failed: .failed
            }
        return EncodingError(
            kind, insideAge ? "\(file), once decrypted, \(error.description)" : "\(file) \(error.description)")
    }
}

/// Why a run did not fully succeed. The kind decides the exit status, which scripts and
/// systemd see; the message says what happened and what to do.
public struct RunFailure: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case configuration
        case snapshot
        case store
        /// The backup was stored and recorded, but retention (or the clean-up of an earlier
        /// failed run) could not delete something.
        case cleanup
        /// Another run of the same database held the lock for too long.
        case busy
        /// The backup was stored and recorded, but it looks wrong (see `SuspectCheck`).
        case suspect
        /// The database, or a directory the run needs, is not accessible to this user.
        case permission

        /// The exit status scripts and systemd see (see `ExitStatus`).
        public var status: ExitStatus {
            switch self {
            case .configuration: .configuration
            case .snapshot: .snapshot
            case .store: .store
            case .cleanup: .cleanup
            case .busy: .busy
            case .suspect: .suspect
            case .permission: .permission
            }
        }

        public var exitCode: Int32 { status.code }
    }

    public let kind: Kind
    public let registration: String?
    public let message: String
    /// A failed upload that never reached the store (see `S3Error.neverConnected`): its key
    /// holds nothing, now or later, so later runs need not delete it.
    public var nothingSent = false

    public init(_ kind: Kind, registration: String?, _ message: String) {
        self.kind = kind
        self.registration = registration
        self.message = message
    }

    public var description: String {
        registration.map { "registration \($0): \(message)" } ?? message
    }
}

/// Why a run did not fully succeed. The kind decides the exit status, which scripts and
/// systemd see; the message says what happened and what to do.
public struct RunFailure: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case configuration
        case snapshot
        case store
        /// The backup was stored and recorded, but retention could not delete something.
        case cleanup
        /// Another run of the same database held the lock for too long.
        case busy

        /// Documented in README "Exit status"; stable for scripts.
        public var exitCode: Int32 {
            switch self {
            case .configuration: 2
            case .snapshot: 3
            case .store: 4
            case .cleanup: 5
            case .busy: 6
            }
        }
    }

    public let kind: Kind
    public let registration: String?
    public let message: String

    public init(_ kind: Kind, registration: String?, _ message: String) {
        self.kind = kind
        self.registration = registration
        self.message = message
    }

    public var description: String {
        registration.map { "registration \($0): \(message)" } ?? message
    }
}

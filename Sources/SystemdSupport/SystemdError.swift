import SystemCalls

/// An error from the systemd integration: what failed (`code`), the errno when a C
/// call reported one, and a message for people.
public struct SystemdError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// sd_notify could not deliver a message to NOTIFY_SOCKET.
        case notifyFailed = "notify-failed"
        /// A notification line was malformed (empty key, '=' or newline in a key).
        case invalidNotifyMessage = "invalid-notify-message"
        /// sd_journal_sendv failed.
        case journalSendFailed = "journal-send-failed"
        /// A journal field name breaks the journal's rules.
        case invalidJournalField = "invalid-journal-field"
        /// A string is not a valid escaped unit-name component.
        case invalidEscape = "invalid-escape"
        /// A template unit name, or the unit name built from it, is invalid.
        case invalidUnitName = "invalid-unit-name"
    }

    public let code: Code
    /// The errno of the failing C call, or 0 when none applies.
    public let errno: Int32
    public let message: String

    public init(_ code: Code, errno: Int32 = 0, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    public var description: String {
        errno == 0 ? "\(message) [\(code.rawValue)]" : "\(message): \(SystemError.text(errno)) [\(code.rawValue)]"
    }
}

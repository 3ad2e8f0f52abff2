import CSystemd
import SystemCalls

/// One line of an sd_notify(3) message.
public enum NotifyMessage: Sendable, Equatable {
    case ready
    case reloading
    case stopping
    /// Free-form status shown by `systemctl status` (newlines become spaces).
    case status(String)
    /// Ask the service manager for more time: EXTEND_TIMEOUT_USEC=.
    case extendTimeout(microseconds: UInt64)
    case errno(Int32)
    case custom(key: String, value: String)

    var line: String {
        switch self {
        case .ready: "READY=1"
        case .reloading: "RELOADING=1"
        case .stopping: "STOPPING=1"
        case .status(let text): "STATUS=" + text.map { $0.isNewline ? " " : String($0) }.joined()
        case .extendTimeout(let usec): "EXTEND_TIMEOUT_USEC=\(usec)"
        case .errno(let code): "ERRNO=\(code)"
        case .custom(let key, let value): "\(key)=\(value)"
        }
    }

    func validate() throws(SystemdError) {
        guard case .custom(let key, let value) = self else { return }
        if key.isEmpty || key.contains("=") || key.contains(where: \.isNewline) || value.contains(where: \.isNewline) {
            throw SystemdError(.invalidNotifyMessage, "invalid notify line for key '\(key)'")
        }
    }
}

/// Sends state to the service manager with sd_notify(3).
public enum SystemdNotifier {
    /// Sends the messages as one datagram. Returns false when there is no service
    /// manager to tell (NOTIFY_SOCKET unset), true when it was sent.
    @discardableResult
    public static func notify(_ messages: [NotifyMessage]) throws(SystemdError) -> Bool {
        for message in messages { try message.validate() }
        let text = messages.map(\.line).joined(separator: "\n")
        let result = Syscalls.retryingNegativeEINTR { sd_notify(0, text) }
        if result < 0 {
            throw SystemdError(.notifyFailed, errno: -result, "sd_notify failed")
        }
        return result > 0
    }

    @discardableResult
    public static func notify(_ messages: NotifyMessage...) throws(SystemdError) -> Bool {
        try notify(messages)
    }
}

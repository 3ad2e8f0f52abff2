import Glibc

/// A failed system call: which call, on which path, and errno, with the errnos callers tell
/// apart named (as swift-system's `Errno` does).
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        (self.operation, self.path, self.errno) = (operation, path, errno)
    }

    public var description: String { "\(operation) \(path): \(Self.text(errno))" }

    /// The path, or a directory on the way to it, does not exist.
    public var isMissing: Bool { errno == ENOENT || errno == ENOTDIR }

    /// Permissions (or the sandbox) refuse it: never to be reported as "does not exist".
    public var isPermissionDenied: Bool { errno == EACCES || errno == EPERM }

    /// The file system is mounted read-only, or the service's sandbox makes it so.
    public var isReadOnly: Bool { errno == EROFS }

    /// The disk, or the user's quota, is full.
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }

    /// strerror(3)'s text for an errno value.
    public static func text(_ errno: Int32) -> String {
        guard let text = strerror(errno) else { return "errno \(errno)" }
        return String(cString: text)
    }
}

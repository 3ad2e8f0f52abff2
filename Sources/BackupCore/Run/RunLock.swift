import FoundationEssentials
import Glibc
import Hashing
import SystemCalls

/// An exclusive flock(2) on a file in the state directory's `locks/`, held while a run needs
/// it. A second run waits (bounded) and then fails clearly. The kernel drops the lock if the
/// process dies, so a crash never leaves it stuck.
///
/// A run takes two: its registration's, for the whole run (two runs of one registration
/// never settle or prune each other's backups), and its database's, only while it takes the
/// snapshot (so a stalled upload to one store never makes another registration's backup of
/// the same database, or a deploy's pre-migrate, wait for it).
public final class RunLock {
    private var fd: Int32

    public struct Timeout: Error, CustomStringConvertible, Sendable {
        public let what: String
        public let holder: String
        public let seconds: Int
        public var description: String {
            """
            another dbbackup run (\(holder)) has been \(what) for longer than \(seconds) s; wait for it to \
            finish, or raise database.lock_timeout
            """
        }
    }

    /// The lock of one database: held while its snapshot is taken.
    public static func database(
        _ database: String, locksDirectory: String, holder: String, timeoutSeconds: Int
    ) throws -> RunLock {
        let name = Digest.hash(.sha256, Array(database.utf8)).hexString.prefix(24)
        return try RunLock(
            path: "\(locksDirectory)/\(name).lock", what: "backing up \(database)", holder: holder,
            timeoutSeconds: timeoutSeconds)
    }

    /// The lock of one registration: held for its whole run.
    public static func registration(
        _ name: String, locksDirectory: String, holder: String, timeoutSeconds: Int
    ) throws -> RunLock {
        try RunLock(
            path: "\(locksDirectory)/registration-\(name).lock", what: "running registration \(name)", holder: holder,
            timeoutSeconds: timeoutSeconds)
    }

    private init(path: String, what: String, holder: String, timeoutSeconds: Int) throws {
        let locksDirectory = FileSystem.parent(of: path)
        if !FileSystem.isDirectory(locksDirectory) {
            try FileSystem.makeDirectories(locksDirectory, mode: 0o750)
            FileSystem.adoptOwnership(locksDirectory, of: FileSystem.parent(of: locksDirectory))
        }
        let isNew = !FileSystem.exists(path)
        // flock(2) needs no write access: a lock file another user created still locks.
        fd = try (try? FileSystem.open(path, O_RDWR | O_CREAT, mode: 0o644)) ?? FileSystem.open(path, O_RDONLY)
        if isNew { FileSystem.adoptOwnership(path, of: locksDirectory) }
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        while try !Self.lockOrClose(fd, path) {
            if Date() >= deadline {
                let current = (try? FileSystem.readAll(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                FileSystem.close(fd)
                throw Timeout(what: what, holder: current.isEmpty ? "unknown" : current, seconds: timeoutSeconds)
            }
            Syscalls.sleep(for: .milliseconds(50))
        }
        // Say who holds it, for the message a waiting run prints.
        try? Syscalls.truncate(fd, path: path)
        try? FileSystem.writeAll(fd, Array("pid \(getpid()), \(holder)".utf8), path: path)
    }

    /// Takes the lock if it is free; closes `fd` when flock fails for another reason.
    private static func lockOrClose(_ fd: Int32, _ path: String) throws(SystemError) -> Bool {
        // A Result, not do/catch: Swift 6.3's optimizer wrote a rethrown typed error over the
        // caller's stack (see Syscalls.copyRange).
        let locked = Result { () throws(SystemError) in try Syscalls.tryLockExclusive(fd, path: path) }
        if case .failure = locked { FileSystem.close(fd) }
        return try locked.get()
    }

    /// Lets the lock go now (also done when the lock is released from memory).
    public func release() {
        guard fd >= 0 else { return }
        try? Syscalls.truncate(fd, path: "lock file")
        Syscalls.unlock(fd)
        FileSystem.close(fd)
        fd = -1
    }

    deinit { release() }
}

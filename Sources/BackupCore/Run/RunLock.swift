#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Hashing

/// One run per database at a time: an exclusive flock(2) on a lock file named after the
/// database, held for the whole run. A second run waits (bounded) and then fails clearly.
/// The kernel drops the lock if the process dies, so a crash never leaves it stuck.
public final class DatabaseLock {
    private let fd: Int32

    public struct Timeout: Error, CustomStringConvertible, Sendable {
        public let database: String
        public let holder: String
        public let seconds: Int
        public var description: String {
            "another dbbackup run (\(holder)) has been backing up \(database) for longer than \(seconds) s; wait for it to finish, or raise database.lock_timeout"
        }
    }

    public init(database: String, locksDirectory: String, holder: String, timeoutSeconds: Int) throws {
        if !FileSystem.isDirectory(locksDirectory) {
            try FileSystem.makeDirectories(locksDirectory, mode: 0o750)
            FileSystem.adoptOwnership(locksDirectory, of: FileSystem.parent(of: locksDirectory))
        }
        let name = Digest.hash(.sha256, Array(database.utf8)).hexString.prefix(24)
        let path = "\(locksDirectory)/\(name).lock"
        let isNew = !FileSystem.exists(path)
        // flock(2) needs no write access: a lock file another user created still locks.
        fd = try (try? FileSystem.open(path, O_RDWR | O_CREAT, mode: 0o644)) ?? FileSystem.open(path, O_RDONLY)
        if isNew { FileSystem.adoptOwnership(path, of: locksDirectory) }
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else {
                FileSystem.close(fd)
                throw SystemError(operation: "flock", path: path, errno: error)
            }
            if Date() >= deadline {
                let current = (try? FileSystem.readAll(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                FileSystem.close(fd)
                throw Timeout(database: database, holder: current.isEmpty ? "unknown" : current, seconds: timeoutSeconds)
            }
            usleep(50_000)
        }
        // Say who holds it, for the message a waiting run prints.
        _ = ftruncate(fd, 0)
        try? FileSystem.writeAll(fd, Array("pid \(getpid()), \(holder)".utf8), path: path)
    }

    deinit {
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        FileSystem.close(fd)
    }
}

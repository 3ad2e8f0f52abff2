import FoundationEssentials
import Glibc
import SystemCalls

/// Which processes have a database open: before a restore replaces it, a running application
/// must be noticed (its writes since the backup would vanish without an error).
enum OpenFiles {
    /// The processes (`PID 1234 (python3)`) that have `database`, or its `-wal`/`-shm`, open or
    /// locked; empty when none. Two ways, because neither alone sees everything: the file
    /// descriptors under /proc (every process for root, only one's own otherwise), and the
    /// byte-range locks SQLite holds (seen whoever holds them; a WAL database's connections
    /// keep a lock on its `-shm` as long as they are open).
    static func holders(of database: String) -> [String]? {
        let files = [database] + ["-wal", "-shm"].map { database + $0 }
        let identities = Set(files.compactMap { FileSystem.identity(of: $0) })
        guard !identities.isEmpty else { return [] }
        var pids = Set(processesWithOpen(identities))
        for file in files { if let pid = lockHolder(file) { pids.insert(pid) } }
        pids.remove(getpid())
        return pids.sorted().map { pid in "PID \(pid)" + (commandName(pid).map { " (\($0))" } ?? "") }
    }

    private static func processesWithOpen(_ identities: Set<[UInt64]>) -> [Int32] {
        var result: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry) else { continue }
            let fds = "/proc/\(entry)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? [] {
                if let identity = FileSystem.identity(of: "\(fds)/\(fd)"), identities.contains(identity) {
                    result.append(pid)
                    break
                }
            }
        }
        return result
    }

    /// The process holding a lock that would conflict with a write lock on any byte of the
    /// file (F_GETLK; -1 for an open-file-description lock, whose holder fcntl cannot name).
    private static func lockHolder(_ path: String) -> Int32? {
        guard let fd = try? FileSystem.open(path, O_RDONLY) else { return nil }
        defer { FileSystem.close(fd) }
        return try? Syscalls.conflictingWriteLockHolder(fd, path: path)
    }

    private static func commandName(_ pid: Int32) -> String? {
        guard pid > 0, let bytes = try? FileSystem.readAll("/proc/\(pid)/comm") else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmed
    }
}

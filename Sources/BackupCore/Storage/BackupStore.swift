#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Hashing

/// Where a registration's backups go. The runner snapshots into `stagingPath`, then asks
/// the store to `place` the verified file under a final name, and retention `delete`s.
protocol BackupStore {
    var provider: String { get }
    /// Prepares the destination (e.g. creates the directory) and checks it is usable.
    func prepare() throws(RunFailure)
    /// A staging path that is not a final backup name, unique to this run.
    func stagingPath(registration: String, startedAt: Timestamp) -> String
    /// The location a file of this name would have.
    func location(forFileName name: String) -> BackupLocation
    /// Whether `place` wants the staging file's MD5 too (computed with its SHA-256).
    var needsMD5: Bool { get }
    /// Whether the staging file becomes the backup itself, so the snapshot writes it to disk.
    var keepsStagingFile: Bool { get }
    /// Places the verified staging file at `location`. Returns false (and leaves the staging
    /// file) when that name is already taken, so the runner tries the next name.
    func place(staging: String, digests: FileDigests, at location: BackupLocation,
               progress: @escaping (Int64, Int64) -> Void) throws(RunFailure) -> Bool
    func delete(_ location: BackupLocation) throws
    /// Removes staging files that crashed runs left behind.
    func removeStagingLeftovers()
}

/// A local directory: the snapshot is staged inside it (same file system), then linked to
/// its final name, so no partial file ever carries a final name.
struct DirectoryStore: BackupStore {
    let registration: String
    let directory: String

    var provider: String { "filesystem" }
    var needsMD5: Bool { false }
    var keepsStagingFile: Bool { true }

    func prepare() throws(RunFailure) {
        do {
            try FileSystem.makeDirectories(directory, mode: 0o750)
        } catch {
            throw RunFailure(.store, registration: registration, "backup directory \(directory) cannot be created: \(error); create it and make it writable by the service")
        }
        if let reason = FileSystem.unwritableReason(directory) {
            throw RunFailure(.store, registration: registration, "backup directory \(directory) \(reason)")
        }
    }

    func stagingPath(registration: String, startedAt: Timestamp) -> String {
        StagingFiles.path(in: directory, registration: registration, startedAt: startedAt)
    }

    func location(forFileName name: String) -> BackupLocation { .file(path: "\(directory)/\(name)") }

    func place(staging: String, digests: FileDigests, at location: BackupLocation,
               progress: @escaping (Int64, Int64) -> Void) throws(RunFailure) -> Bool {
        guard case .file(let path) = location else { return false }
        // Side files of an earlier file of this name (someone opened it with sqlite3 before
        // it was pruned) would be read as part of the new one: such a name counts as taken.
        if SQLiteSideFiles.suffixes.contains(where: { FileSystem.exists(path + $0) }) { return false }
        do {
            // The snapshot already synced a staging file this store keeps (keepsStagingFile), side
            // by side with hashing it; this fsync then finds nothing to write and costs about
            // 0.1 ms. It stays so that no name is ever linked to data that is not on disk.
            try FileSystem.fsyncFile(staging)
            guard try FileSystem.linkNoReplace(staging, path) else { return false }
            try FileSystem.unlinkIfPresent(staging)
            try FileSystem.fsyncDirectory(directory)
            return true
        } catch {
            throw RunFailure(.store, registration: registration, "placing the backup in \(directory) failed: \(error)")
        }
    }

    func delete(_ location: BackupLocation) throws {
        guard case .file(let path) = location else { return }
        try FileSystem.unlinkIfPresent(path)
        // Opening a backup with sqlite3 leaves -wal/-shm beside it; they go with it.
        for suffix in SQLiteSideFiles.suffixes { try FileSystem.unlinkIfPresent(path + suffix) }
        try FileSystem.fsyncDirectory(FileSystem.parent(of: path))
    }

    func removeStagingLeftovers() { StagingFiles.removeLeftovers(in: directory) }
}

/// The files SQLite keeps beside a database while it is open.
enum SQLiteSideFiles {
    static let suffixes = ["-wal", "-shm", "-journal"]
}

/// Staging files are named `.dbbackup-staging-REGISTRATION-PID-MILLISECONDS.db`, so a run can
/// tell its own from those of processes that died.
enum StagingFiles {
    static let prefix = ".dbbackup-staging-"

    static func path(in directory: String, registration: String, startedAt: Timestamp) -> String {
        "\(directory)/\(prefix)\(registration)-\(getpid())-\(startedAt.millisecondsSinceEpoch).db"
    }

    /// Removes staging files of processes that are gone. A live run's staging file is left alone.
    static func removeLeftovers(in directory: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            // Side files (-wal, -shm) of a staging file belong to the same run.
            let base = SQLiteSideFiles.suffixes.first { entry.hasSuffix($0) }.map { String(entry.dropLast($0.count)) } ?? entry
            let fields = base.dropFirst(prefix.count).split(separator: "-")
            guard fields.count >= 3, let pid = Int32(fields[fields.count - 2]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileSystem.unlinkIfPresent("\(directory)/\(entry)")
            }
        }
    }
}

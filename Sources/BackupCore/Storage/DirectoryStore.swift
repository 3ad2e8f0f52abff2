import Glibc
import Hashing
import SystemCalls

/// A local directory: the snapshot is staged inside it (same file system), then given its
/// final name atomically, so no partial file ever carries a final name.
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
            throw RunFailure(
                .store, registration: registration,
                """
                backup directory \(directory) cannot be created: \(error); create it and make it writable by the \
                service
                """
            )
        }
        if let reason = PathAccess.unwritableReason(directory) {
            throw RunFailure(.store, registration: registration, "backup directory \(directory) \(reason)")
        }
    }

    func stagingPath(registration: String, startedAt: Timestamp) -> String {
        StagingFiles.path(in: directory, registration: registration, startedAt: startedAt)
    }

    func location(forFileName name: String) -> BackupLocation { .file(path: "\(directory)/\(name)") }

    func place(
        staging: String, digests: FileDigests, at location: BackupLocation, attributes: BackupAttributes,
        progress: @escaping (Int64, Int64) -> Void
    ) throws(RunFailure) -> Bool {
        guard case .file(let path) = location else { return false }
        // Side files of an earlier file of this name (someone opened it with sqlite3 before
        // it was pruned) would be read as part of the new one: such a name counts as taken.
        if SQLiteSideFiles.suffixes.contains(where: { FileSystem.exists(path + $0) }) { return false }
        // Before the name is given, so a backup never carries a name without them.
        for (key, value) in attributes.pairs { FileSystem.setAttribute("dbbackup.\(key)", value, of: staging) }
        do {
            // The snapshot already synced a staging file this store keeps (keepsStagingFile), side
            // by side with hashing it; this fsync then finds nothing to write and costs about
            // 0.1 ms. It stays so that no name is ever linked to data that is not on disk.
            try FileSystem.fsyncFile(staging)
            guard try FileSystem.placeNoReplace(staging, path) else { return false }
            try FileSystem.fsyncDirectory(directory)
            return true
        } catch {
            throw RunFailure(.store, registration: registration, "placing the backup in \(directory) failed: \(error)")
        }
    }

    func delete(_ location: BackupLocation) throws {
        guard case .file(let path) = location else {
            throw StoreError(message: "\(location) is not a file; this registration now stores in \(directory)")
        }
        try FileSystem.unlinkIfPresent(path)
        // Opening a backup with sqlite3 leaves -wal/-shm beside it; they go with it.
        for suffix in SQLiteSideFiles.suffixes { try FileSystem.unlinkIfPresent(path + suffix) }
        try FileSystem.fsyncDirectory(FileSystem.parent(of: path))
    }

    func removeStagingLeftovers() { StagingFiles.removeLeftovers(in: directory) }
}

/// A store cannot do what was asked, for a reason of its own (not a system call's).
struct StoreError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

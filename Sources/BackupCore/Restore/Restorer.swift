import Foundation

public struct RestoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable { case notFound, exists, unavailable, checksum, integrity, io }
    public let code: Code
    public let message: String
    public var description: String { message }
}

/// Copies a backup out of its store to a path, proving on the way that it is the very file
/// that was recorded (SHA-256) and a healthy database (`PRAGMA integrity_check`), and
/// writing the destination atomically.
public struct Restorer {
    public let locations: Locations

    public init(locations: Locations) { self.locations = locations }

    public enum Selector: Sendable {
        case id(Int64)
        case latest
    }

    /// The stored backup a selector means.
    public func find(_ selector: Selector, registration: String?) throws -> BackupRecord {
        let registry = try Registry(path: locations.registryPath)
        switch selector {
        case .id(let id):
            guard let record = try registry.backup(id: id), record.state == .stored else {
                throw RestoreError(code: .notFound, message: "there is no stored backup with id \(id); see: dbbackup list")
            }
            if let registration, record.registration != registration {
                throw RestoreError(code: .notFound, message: "backup \(id) belongs to registration \(record.registration), not \(registration)")
            }
            return record
        case .latest:
            guard let record = try registry.storedBackups(registration: registration).last else {
                throw RestoreError(code: .notFound, message: registration.map { "registration \($0) has no stored backup" } ?? "there is no stored backup yet")
            }
            return record
        }
    }

    @discardableResult
    public func restore(_ record: BackupRecord, to destination: String, force: Bool) throws -> String {
        let target = FileSystem.absolute(destination, relativeTo: FileManager.default.currentDirectoryPath)
        if FileSystem.exists(target) && !force {
            throw RestoreError(code: .exists, message: "\(target) already exists; add --force to replace it (stop the application first)")
        }
        guard case .file(let source)? = record.location else {
            throw RestoreError(code: .unavailable, message: "backup \(record.id) is stored in S3 (\(record.location?.description ?? "?")); restoring from S3 is not available in this version yet")
        }
        guard FileSystem.exists(source) else {
            throw RestoreError(code: .notFound, message: "backup \(record.id) should be at \(source), but that file is gone")
        }
        let directory = (target as NSString).deletingLastPathComponent
        let temporary = "\(directory)/.\((target as NSString).lastPathComponent).dbbackup-restore-\(getpid())"
        defer { Self.discard(temporary) }
        let copied: (sha256: String, size: Int64)
        do {
            copied = try FileSystem.copyHashing(source, to: temporary)
        } catch {
            throw RestoreError(code: .io, message: "copying \(source) to \(directory) failed: \(error)")
        }
        guard copied.sha256 == record.sha256 else {
            throw RestoreError(code: .checksum, message: "backup \(record.id) at \(source) does not match its recorded SHA-256 (recorded \(record.sha256 ?? "none"), found \(copied.sha256)); the file was damaged or replaced, choose another backup")
        }
        do {
            let check = try SQLiteConnection(path: temporary, mode: .readOnly).scalar("PRAGMA integrity_check") ?? "no answer"
            guard check == "ok" else {
                throw RestoreError(code: .integrity, message: "backup \(record.id) fails PRAGMA integrity_check: \(check)")
            }
        } catch let error as RestoreError {
            throw error
        } catch {
            throw RestoreError(code: .integrity, message: "backup \(record.id) cannot be opened as a database: \(error)")
        }
        do {
            // A stale WAL beside the old database would be replayed into the restored one.
            for suffix in ["-wal", "-shm", "-journal"] { try FileSystem.unlinkIfPresent(target + suffix) }
            try FileSystem.rename(temporary, target)
            try FileSystem.fsyncDirectory(directory)
        } catch {
            throw RestoreError(code: .io, message: "placing the restored database at \(target) failed: \(error)")
        }
        return target
    }

    static func discard(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileSystem.unlinkIfPresent(path + suffix) }
    }
}

import FoundationEssentials
import Glibc
import S3Client

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

    /// Credentials for reading an S3 backup: restore needs s3:GetObject, which the backup's
    /// own key may rightly lack.
    public struct S3Access: Sendable {
        public var target: S3Target
        public var secret: String
        public var transfer: S3Transfer

        public init(target: S3Target, secret: String, transfer: S3Transfer = S3Transfer()) {
            self.target = target
            self.secret = secret
            self.transfer = transfer
        }
    }

    @discardableResult
    public func restore(_ record: BackupRecord, to destination: String, force: Bool, s3: S3Access? = nil) throws -> String {
        let target = FileSystem.absolute(destination, relativeTo: FileManager.default.currentDirectoryPath)
        if FileSystem.exists(target) && !force {
            throw RestoreError(code: .exists, message: "\(target) already exists; add --force to replace it (stop the application first)")
        }
        let directory = FileSystem.parent(of: target)
        guard FileSystem.isDirectory(directory) else {
            throw RestoreError(code: .io, message: "\(directory) is not a directory; create it first, or restore elsewhere with --to")
        }
        let temporary = "\(directory)/.\(FileSystem.name(of: target)).dbbackup-restore-\(getpid())"
        defer { Self.discard(temporary) }
        let fetched = try fetch(record, to: temporary, s3: s3)
        guard fetched == record.sha256 else {
            throw RestoreError(code: .checksum, message: "backup \(record.id) at \(record.location?.description ?? "?") does not match its recorded SHA-256 (recorded \(record.sha256 ?? "none"), found \(fetched)); it was damaged or replaced, choose another backup")
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
            for suffix in SQLiteSideFiles.suffixes { try FileSystem.unlinkIfPresent(target + suffix) }
            try FileSystem.rename(temporary, target)
            try FileSystem.fsyncDirectory(directory)
        } catch {
            throw RestoreError(code: .io, message: "placing the restored database at \(target) failed: \(error)")
        }
        return target
    }

    /// Copies or downloads the backup to `temporary`; returns the SHA-256 of what arrived.
    private func fetch(_ record: BackupRecord, to temporary: String, s3: S3Access?) throws -> String {
        switch record.location {
        case .file(let source)?:
            switch PathAccess.lookup(source) {
            case .missing:
                throw RestoreError(code: .notFound, message: "backup \(record.id) should be at \(source), but that file is gone")
            case .unreachable(let error):
                // Permission denied is not "gone": backups belong to the services' identity.
                throw RestoreError(code: .io, message: "backup \(record.id) at \(source) cannot be reached by \(ProcessIdentity.describe(uid: geteuid())) (\(String(cString: strerror(error)))); restore as root")
            case .found:
                break
            }
            do {
                return try FileSystem.copyHashing(source, to: temporary).sha256
            } catch {
                throw RestoreError(code: .io, message: "copying \(source) to \(FileSystem.parent(of: temporary)) failed: \(error)")
            }
        case .object(let bucket, let key)?:
            guard let s3 else {
                throw RestoreError(code: .unavailable, message: "backup \(record.id) is in S3 (s3://\(bucket)/\(key)); its registration \(record.registration) is gone, so the store is unknown")
            }
            var target = s3.target
            target.bucket = bucket
            do {
                let client = try S3Client(S3Store.configuration(target, secret: s3.secret), policy: S3Store.policy(s3.transfer))
                return try client.getObject(key: key, toFile: temporary).sha256
            } catch {
                throw RestoreError(code: .io, message: "downloading backup \(record.id) failed: \(error) (restoring from S3 needs s3:GetObject: give a key that has it with --access-key and --secret-key-stdin)")
            }
        case nil:
            throw RestoreError(code: .notFound, message: "backup \(record.id) has no location")
        }
    }

    static func discard(_ path: String) {
        for suffix in [""] + SQLiteSideFiles.suffixes { try? FileSystem.unlinkIfPresent(path + suffix) }
    }
}

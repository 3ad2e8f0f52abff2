import Age
import FoundationEssentials
import Glibc
import Hashing
import S3Client
import SystemCalls

public struct RestoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable { case notFound, exists, inUse, unavailable, identity, checksum, integrity, io }
    public let code: Code
    public let message: String
    public var description: String { message }
}

/// Copies a backup out to a path, proving on the way that it is the very file that was
/// recorded (SHA-256) and a healthy database (`PRAGMA integrity_check`), and writing the
/// destination atomically. Works from the registry, or without one: from a backup file or an
/// S3 object, with the SHA-256 recorded beside it (extended attribute, object metadata) where
/// there is one.
public struct Restorer {
    public let locations: Locations

    public init(locations: Locations) { self.locations = locations }

    public enum Selector: Sendable {
        case id(Int64)
        case latest
    }

    /// The stored backup a selector means; `latest` is the one recorded last.
    public func find(_ selector: Selector, registration: String?) throws -> BackupRecord {
        let registry = try BackupRegistry(path: locations.registryPath)
        switch selector {
        case .id(let id):
            guard let record = try registry.backup(id: id), record.state == .stored || record.state == .pruning else {
                throw RestoreError(
                    code: .notFound, message: "there is no stored backup with id \(id); see: dbbackup list")
            }
            if let registration, record.registration != registration {
                throw RestoreError(
                    code: .notFound,
                    message: "backup \(id) belongs to registration \(record.registration), not \(registration)")
            }
            return record
        case .latest:
            guard let record = try registry.storedBackups(registration: registration).last else {
                throw RestoreError(
                    code: .notFound,
                    message: registration.map { "registration \($0) has no stored backup" }
                        ?? "there is no stored backup yet")
            }
            return record
        }
    }

    /// What `restore latest` restores: the newest stored backup that is not an unconfirmed
    /// suspect, and the newer suspect ones it passed over. A database emptied or replaced by
    /// mistake is exactly what a restore is run after, and its backups are those suspects.
    /// Without a good backup, the newest one, suspect or not.
    public func latestToRestore(registration: String?) throws -> (record: BackupRecord, passedOver: [BackupRecord]) {
        let stored = try BackupRegistry(path: locations.registryPath).storedBackups(registration: registration)
        guard let good = stored.last(where: { !$0.isUnconfirmedSuspect }) else {
            return (try find(.latest, registration: registration), [])
        }
        return (good, stored.filter { $0.sequence > good.sequence })
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

    /// What to restore.
    public enum Source: Sendable {
        /// A backup the registry knows; `s3` reads it when it is in a bucket.
        case record(BackupRecord, s3: S3Access?)
        /// A backup file, without the registry (e.g. copied off a lost server).
        case file(String)
        /// An S3 object, without the registry: `access.target` names the store and bucket.
        case object(key: String, access: S3Access)

        var description: String {
            switch self {
            case .record(let record, _): "backup \(record.id) (\(record.location?.description ?? "?"))"
            case .file(let path): path
            case .object(let key, let access): "s3://\(access.target.bucket)/\(key)"
            }
        }

        /// The backup's file name, whose suffix says its stored form (`.db.zst.age`…).
        var fileName: String {
            switch self {
            case .record(let record, _): record.location?.fileName ?? ""
            case .file(let path): FileSystem.name(of: path)
            case .object(let key, _): FileSystem.name(of: key)
            }
        }
    }

    /// A SHA-256 a restored file must have, and where it was recorded.
    struct Expected {
        let sha256: String
        let from: String
    }

    /// What a restore proved.
    public struct Report: Sendable {
        public let target: String
        public let sha256: String
        /// Where the SHA-256 the restored bytes matched came from ("the registry", "the
        /// file's extended attribute", "the object's metadata"), or nil when there was none.
        public let checkedAgainst: String?
        /// The compressed or encrypted layers the backup was stored in, undone on the way.
        public let layers: [StoredLayer]
    }

    /// Restores `source` to `destination`. `force` replaces an existing file; `evenIfOpen`
    /// does so even while a process has it open (the application: its writes since the
    /// backup are then lost, and it may go on writing into the replaced file). `identities`
    /// decrypt an age-encrypted backup.
    ///
    /// A compressed or encrypted backup is fetched, checked against the SHA-256 of its stored
    /// bytes, decoded (age's MAC and zstd's checksums verified on the way) and checked against
    /// the SHA-256 of the plain database, where each was recorded; streaming, in fixed memory.
    @discardableResult
    public func restore(
        _ source: Source, to destination: String, force: Bool, evenIfOpen: Bool = false,
        identities: [AgeIdentity] = []
    ) throws -> Report {
        let target = FileSystem.absolute(destination, relativeTo: FileManager.default.currentDirectoryPath)
        if FileSystem.exists(target) {
            if !force {
                throw RestoreError(
                    code: .exists,
                    message: "\(target) already exists; add --force to replace it (stop the application first)")
            }
            if !evenIfOpen, let holders = OpenFiles.holders(of: target), !holders.isEmpty {
                throw RestoreError(
                    code: .inUse,
                    message:
                        """
                        \(target) is in use by \(holders.joined(separator: ", ")): replacing it now would lose \
                        what that process writes and leave it writing into a file that is gone; stop the \
                        application first, or add --even-if-open to replace it anyway
                        """
                )
            }
        }
        let directory = FileSystem.parent(of: target)
        guard FileSystem.isDirectory(directory) else {
            throw RestoreError(
                code: .io, message: "\(directory) is not a directory; create it first, or restore elsewhere with --to")
        }
        RestoreTemporaries.removeAbandoned(in: directory, for: target)
        // The plain database goes to `temporary`; a stored form that is not plain is fetched
        // beside it under a name that keeps its suffix, for the decoder to hold it to.
        let temporary = RestoreTemporaries.path(for: target)
        let claimed = StoredForm.layers(claimedBy: source.fileName)
        let fetchedTo = claimed.isEmpty ? temporary : temporary + ".stored" + claimed.map(\.suffix).joined()
        defer {
            Self.discard(temporary)
            Self.discard(fetchedTo)
        }
        let (fetched, expected) = try fetch(source, to: fetchedTo)
        if let stored = expected.stored, fetched != stored.sha256 {
            throw RestoreError(
                code: .checksum,
                message:
                    """
                    \(source.description) does not match the SHA-256 recorded in \(stored.from) (recorded \
                    \(stored.sha256), found \(fetched)); it was damaged or replaced, choose another backup
                    """
            )
        }
        var layers: [StoredLayer] = []
        var plainSHA256 = fetched
        if !claimed.isEmpty || !Self.isPlainDatabase(fetchedTo) {
            let decoded = try decode(fetchedTo, to: temporary, identities: identities, what: source.description)
            (layers, plainSHA256) = (decoded.layers, decoded.plain.sha256.hexString)
            Self.discard(fetchedTo)
            if let plain = expected.plain, plainSHA256 != plain.sha256 {
                throw RestoreError(
                    code: .checksum,
                    message:
                        """
                        \(source.description) decodes to a database whose SHA-256 is not the one recorded in \
                        \(plain.from) (recorded \(plain.sha256), found \(plainSHA256)); choose another backup
                        """
                )
            }
        }
        do {
            let check =
                try SQLiteConnection(path: temporary, mode: .immutable).scalar("PRAGMA integrity_check") ?? "no answer"
            guard check == "ok" else {
                throw RestoreError(
                    code: .integrity, message: "\(source.description) fails PRAGMA integrity_check: \(check)")
            }
        } catch let error as RestoreError {
            throw error
        } catch {
            throw RestoreError(
                code: .integrity, message: "\(source.description) cannot be opened as a database: \(error)")
        }
        do {
            // The database it replaces was the application's: the restored one gets the same
            // owner, group and mode, or a restore run as root would leave the application
            // unable to open it (`unable to open database file`). Where this user may not give a
            // file away, it keeps at least the mode. A new file, restored by root into the
            // application's directory, goes to that directory's owner and group (mode 0600).
            if let replaced = try? Syscalls.status(target) {
                try? Syscalls.changeOwner(temporary, user: replaced.st_uid, group: replaced.st_gid)
                try Syscalls.changeMode(temporary, replaced.st_mode & 0o7777)
            } else {
                FileSystem.adoptOwnership(temporary, of: directory)
            }
            // A stale WAL beside the old database would be replayed into the restored one.
            for suffix in SQLiteSideFiles.suffixes { try FileSystem.unlinkIfPresent(target + suffix) }
            try FileSystem.rename(temporary, target)
            try FileSystem.fsyncDirectory(directory)
        } catch {
            throw RestoreError(code: .io, message: "placing the restored database at \(target) failed: \(error)")
        }
        let checked = [expected.stored?.from, layers.isEmpty ? nil : expected.plain?.from].compactMap { $0 }
        return Report(
            target: target, sha256: plainSHA256,
            checkedAgainst: checked.isEmpty ? nil : Array(Set(checked)).sorted().joined(separator: " and "),
            layers: layers)
    }

    /// Whether a file is a plain SQLite database (its header), or empty (SQLite's empty database).
    static func isPlainDatabase(_ path: String) -> Bool { LiveDatabase.isSQLite(path) ?? false }

    private func decode(
        _ stored: String, to plain: String, identities: [AgeIdentity], what: String
    ) throws -> DecodeResult {
        do {
            return try BackupCodec.decode(storedFile: stored, identities: identities, toNewFile: plain)
        } catch {
            switch error.kind {
            case .identityNeeded:
                throw RestoreError(
                    code: .identity,
                    message:
                        """
                        \(what) is encrypted with age: give the identity (the private key, AGE-SECRET-KEY-1…) \
                        with --identity FILE
                        """
                )
            case .wrongIdentity:
                throw RestoreError(code: .identity, message: "\(what): \(error.message)")
            case .damaged, .truncated, .mismatchedName, .unsupported:
                throw RestoreError(
                    code: .integrity, message: "\(what) cannot be decoded: \(error.message); choose another backup")
            default:
                throw RestoreError(code: .io, message: "decoding \(what) failed: \(error.message)")
            }
        }
    }

    /// Restores a recorded backup from a directory (S3 backups need `.record(_, s3:)`).
    @discardableResult
    public func restore(_ record: BackupRecord, to destination: String, force: Bool) throws -> Report {
        try restore(.record(record, s3: nil), to: destination, force: force)
    }

    /// Copies or downloads the backup to `temporary`; returns the SHA-256 of what arrived, and
    /// the SHA-256s the stored bytes and the plain database must have, where recorded.
    private func fetch(_ source: Source, to temporary: String) throws -> (String, (stored: Expected?, plain: Expected?))
    {
        switch source {
        case .record(let record, let s3):
            let expected = (
                stored: record.sha256.map { Expected(sha256: $0, from: "the registry") },
                plain: record.plainSHA256.map { Expected(sha256: $0, from: "the registry") }
            )
            switch record.location {
            case .file(let path)?:
                return (try copy(path, to: temporary, what: "backup \(record.id)"), expected)
            case .object(let object)?:
                guard var access = s3 else {
                    throw RestoreError(
                        code: .unavailable,
                        message:
                            """
                            backup \(record.id) is in S3 (\(object.bucket)/\(object.key)); its registration \
                            \(record.registration) is gone, so give the store: dbbackup restore \
                            s3://\(object.bucket)/\(object.key) --endpoint URL --access-key KEY \
                            --secret-key-stdin --to PATH
                            """
                    )
                }
                access.target.bucket = object.bucket
                if let endpoint = object.endpoint { access.target.endpoint = endpoint }
                if let region = object.region { access.target.region = region }
                if let pathStyle = object.forcePathStyle { access.target.forcePathStyle = pathStyle }
                return (
                    try download(object.key, access: access, to: temporary, what: "backup \(record.id)").sha256,
                    expected
                )
            case nil:
                throw RestoreError(code: .notFound, message: "backup \(record.id) has no location")
            }
        case .file(let path):
            let from = "the file's extended attributes"
            let recorded = (
                stored: FileSystem.attribute("dbbackup.sha256", of: path).map { Expected(sha256: $0, from: from) },
                plain: FileSystem.attribute("dbbackup.plain-sha256", of: path).map { Expected(sha256: $0, from: from) }
            )
            return (try copy(path, to: temporary, what: path), recorded)
        case .object(let key, let access):
            let got = try download(key, access: access, to: temporary, what: "s3://\(access.target.bucket)/\(key)")
            let metadata = BackupAttributes.recorded(in: got.metadata)
            let from = "the object's metadata"
            return (
                got.sha256,
                (
                    stored: metadata.sha256.map { Expected(sha256: $0, from: from) },
                    plain: metadata.plainSHA256.map { Expected(sha256: $0, from: from) }
                )
            )
        }
    }

    private func copy(_ source: String, to temporary: String, what: String) throws -> String {
        switch PathAccess.lookup(source) {
        case .missing:
            throw RestoreError(code: .notFound, message: "\(what) should be at \(source), but that file is gone")
        case .unreachable(let error):
            // Permission denied is not "gone": backups belong to the services' identity.
            throw RestoreError(
                code: .io,
                message:
                    """
                    \(what) at \(source) cannot be reached by \(ProcessIdentity.describe(uid: geteuid())) \
                    (\(String(cString: strerror(error)))); restore as root
                    """
            )
        case .found:
            break
        }
        do {
            return try FileSystem.copyHashing(source, to: temporary).sha256
        } catch {
            throw RestoreError(
                code: .io, message: "copying \(source) to \(FileSystem.parent(of: temporary)) failed: \(error)")
        }
    }

    private func download(_ key: String, access: S3Access, to temporary: String, what: String) throws -> GetResult {
        do {
            let client = try S3Client(
                S3Store.configuration(access.target, secret: access.secret), policy: S3Store.policy(access.transfer))
            return try client.getObject(key: key, toFile: temporary)
        } catch {
            // An archived object needs an unarchive, not another key: its hint says how.
            let needsKey = error.code != .invalidObjectState
            throw RestoreError(
                code: .io,
                message: "downloading \(what) failed: \(error)"
                    + (needsKey
                        ? """
                         (restoring from S3 needs s3:GetObject: give a key that has it with --access-key and \
                        --secret-key-stdin)
                        """
                        : ""))
        }
    }

    static func discard(_ path: String) {
        for suffix in [""] + SQLiteSideFiles.suffixes { try? FileSystem.unlinkIfPresent(path + suffix) }
    }
}

/// The full-size temporary file a restore writes beside its destination:
/// `.NAME.dbbackup-restore-PID`. One whose process is gone (a restore that was killed) is
/// removed by the next restore into that directory.
enum RestoreTemporaries {
    static func path(for target: String) -> String {
        "\(FileSystem.parent(of: target))/.\(FileSystem.name(of: target)).dbbackup-restore-\(getpid())"
    }

    static func removeAbandoned(in directory: String, for target: String) {
        let prefix = ".\(FileSystem.name(of: target)).dbbackup-restore-"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count)
            let pidText = rest.prefix { $0.isNumber }
            guard let pid = Int32(pidText), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            Restorer.discard("\(directory)/\(prefix)\(pidText)")
        }
    }
}

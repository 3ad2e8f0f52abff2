import CSQLite
import Glibc
import Hashing
import SystemCalls
import Threads

/// Why a snapshot could not be taken. Each case says what the sysadmin can do about it.
public struct SnapshotError: Error, CustomStringConvertible, Sendable {
    /// `declined`: the caller's `beforeCopy` ended the snapshot (see `cause`).
    public enum Code: Sendable {
        case missingDatabase, notADatabase, busy, versionQuery, verification, noSpace, replaced, io, permission,
            declined
    }
    public let code: Code
    public let message: String
    /// For `.declined`: the error `beforeCopy` threw.
    public var cause: (any Error)?
    public var description: String { message }

    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    static func noSpace(at staging: String) -> SnapshotError {
        SnapshotError(code: .noSpace, message: "no space left for the snapshot at \(staging)")
    }
}

/// Takes a consistent copy of a live database.
///
/// The source connection opens one read transaction and the copy is made inside it, so the
/// copy is one consistent point in time even while other processes keep writing (WAL or
/// rollback journal), and it never restarts: writers in WAL mode carry on; in rollback
/// mode they wait for the copy (their busy timeout) as for any long reader.
///
/// Where the database file alone holds that point in time, and nobody can change its bytes
/// before the transaction ends, the copy is of the file itself, made by the kernel
/// (`Method.fileCopy`); otherwise SQLite's online backup API copies it page by page
/// (`Method.onlineBackup`). Either way the copy is then checked with `PRAGMA quick_check`.
public enum Snapshot {
    /// How the copy was made.
    public enum Method: String, Sendable {
        /// The database file's bytes, copied by the kernel (copy_file_range).
        case fileCopy = "file copy"
        /// SQLite's online backup API, page by page through SQLite (pages still in the WAL).
        case onlineBackup = "online backup"
    }

    public struct Result: Sendable {
        public let version: String
        public let method: Method
        /// SHA-256 (and MD5 when asked for) and size of the snapshot file.
        public let digests: FileDigests
        public var sha256: String { digests.sha256.hexString }
        public var size: Int64 { digests.size }
        /// The bytes of the copy's pages in use (see `BackupRecord.dataSize`).
        public let dataSize: Int64
        /// What pacing did (a directory backup's writeback), nil for a copy not kept.
        var pacing: PacedWriteback.Report? = nil
    }

    /// What is known once the read transaction is open, before the first byte is copied: the
    /// copy will be exactly this (`Snapshot.take` checks that the copy's version is this one).
    public struct Plan: Sendable, Equatable {
        /// The schema version, read inside the read transaction from the live database: the
        /// same point in time as the copy.
        public let version: String
        /// The copy's size: the snapshot's pages times the page size.
        public let size: Int64
        public let method: Method
    }

    /// The digests of one part of the copy (see `PartDigests`).
    public struct Part: Sendable {
        /// 0-based, counted from the start of the file in parts of `PartDigests.partSize`.
        public let index: Int
        public let length: Int64
        public let sha256: [UInt8]
        /// CRC-32, big-endian (S3's `x-amz-checksum-crc32`).
        public let crc32: [UInt8]
    }

    /// Where the digests of each part of the copy go, as soon as that part is final and hashed
    /// (for an upload that sends parts while the copy goes on). A file copy's parts are final
    /// as they land; an online backup's only once SQLite has finished it (it rewrites the first
    /// page at the end, and its pager writes other pages whenever its cache spills). `digested`
    /// runs on the SHA-256 thread, never after `take` returns.
    public struct PartDigests: Sendable {
        public let partSize: Int64
        public let digested: @Sendable (Part) -> Void

        public init(partSize: Int64, digested: @escaping @Sendable (Part) -> Void) {
            self.partSize = partSize
            self.digested = digested
        }
    }

    /// Pages copied per step; the progress callback runs between steps.
    public static let pagesPerStep: Int32 = 4096

    /// Copies `database` to `staging` and checks the copy.
    ///
    /// - Parameters:
    ///   - md5: also compute the MD5 (an S3 upload sends it as Content-MD5).
    ///   - durable: the copy is the backup itself (a directory store): write it to disk while it
    ///     is copied, and fsync it while it is verified and hashed. A copy that is only uploaded
    ///     and then deleted is not forced to disk.
    ///   - pace: for a durable copy, the most bytes per second written to disk while the
    ///     application is writing too (see `PacedWriteback`); nil never paces.
    ///   - pagesPerStep: pages copied between two calls of `progress`.
    ///   - beforeCopy: called inside the read transaction, before the first byte is copied, with
    ///     what the copy will be; it may ask for each part's digests as the copy lands (the
    ///     whole file's MD5 is then not computed). An error it throws ends the snapshot: it comes
    ///     back as a `SnapshotError` of code `.declined` whose `cause` is that error.
    public static func take(
        database: String,
        to staging: String,
        versionQuery: String?,
        busyTimeoutMilliseconds: Int32,
        md5: Bool = false,
        durable: Bool = false,
        pace: Int64? = nil,
        pagesPerStep: Int32 = pagesPerStep,
        progress: (_ copiedPages: Int, _ totalPages: Int) -> Void = { _, _ in },
        beforeCopy: ((Plan) throws -> PartDigests?)? = nil
    ) throws(SnapshotError) -> Result {
        // Before SQLite opens it: never create a file beside the application's database that the
        // application could not use, and tell "permission denied" from "does not exist".
        do {
            _ = try LiveDatabase.inspect(database)
        } catch {
            throw SnapshotError(code: error.kind == .missing ? .missingDatabase : .permission, message: error.message)
        }
        guard let identity = FileSystem.identity(of: database) else {
            throw SnapshotError(
                code: .missingDatabase,
                message: "database \(database) does not exist; check database.path in the main configuration")
        }
        var writeback: PacedWriteback?
        // Made once the copy's plan is known: with parts, the whole file's MD5 is not needed.
        var following: StagingDigests?
        var planned: Plan?
        // Every thread is joined before this returns or throws: none outlives the staging file.
        defer { following?.cancel() }
        let method: Method
        do {
            method = try copy(
                database, identity: identity, to: staging, busyTimeoutMilliseconds: busyTimeoutMilliseconds,
                pagesPerStep: pagesPerStep, versionQuery: beforeCopy == nil ? nil : .some(versionQuery),
                progress: progress, landed: { following?.landed($0) },
                begin: { plan in
                    var parts: PartDigests?
                    if let plan, let beforeCopy {
                        planned = plan
                        do {
                            parts = try beforeCopy(plan)
                        } catch {
                            throw SnapshotError(code: .declined, message: "\(error)", cause: error)
                        }
                    }
                    following = StagingDigests(
                        of: staging, algorithms: md5 && parts == nil ? [.sha256, .md5] : [.sha256], parts: parts)
                },
                startWriteback: { path in
                    writeback = durable ? PacedWriteback(file: path, database: database, pace: pace) : nil
                    return writeback
                }
            )
            // The copy came from the file that was open. If the path now names another file, or
            // none, the application was given a different database meanwhile (a restore, a
            // deploy): this copy would be a backup of the wrong thing.
            guard FileSystem.identity(of: database) == identity else {
                writeback?.cancel()
                throw SnapshotError(
                    code: .replaced,
                    message:
                        """
                        \(database) was deleted or replaced while it was being copied; nothing was stored, run \
                        the backup again
                        """
                )
            }
        } catch let error as SnapshotError {
            throw error
        } catch let error as SQLiteError {
            throw classify(error, database: database, staging: staging)
        } catch let error as SystemError where error.isNoSpace {
            throw SnapshotError.noSpace(at: staging)
        } catch {
            throw SnapshotError(code: .io, message: "snapshot of \(database) failed: \(error)")
        }
        // Verification (SQLite reading the copy), each digest (reading it as bytes) and the
        // fsync (waiting for the disk) are independent: they run side by side.
        guard let digests = following else {
            throw SnapshotError(code: .io, message: "snapshot of \(database) failed: the copy never started")
        }
        digests.complete()
        let sync =
            durable
            ? JoinableThread { [writeback] in
                writeback?.finish()
                try FileSystem.fsyncFile(staging)
            } : nil
        let verified = Swift.Result { () throws(SnapshotError) -> (version: String, dataSize: Int64) in
            let (version, dataSize) = try verify(staging, versionQuery: versionQuery)
            if let planned, planned.version != version {
                throw SnapshotError(
                    code: .versionQuery,
                    message:
                        "the schema version read from the database inside the snapshot's transaction "
                        + "(\(planned.version)) differs from the one read from its copy (\(version)), which is the "
                        + "same point in time; "
                            + """
                            database.version_query must depend on the data alone (not on the time, a random value or \
                            the connection)
                            """
                )
            }
            return (version, dataSize)
        }
        // A copy that failed its check is not worth writing out at the application's pace.
        if case .failure = verified {
            writeback?.cancel()
            digests.cancel()
        }
        // Every thread is joined before anything is thrown: none outlives the staging file.
        let (digestResults, syncResult) = (digests.results(), sync?.join())
        let hashed = Swift.Result {
            let (sha256, size) = try digestResults[0].get()
            try syncResult?.get()
            // No whole-file MD5 when the parts were hashed instead (their MD5s are what is sent).
            return FileDigests(
                sha256: sha256, md5: digestResults.count > 1 ? try digestResults[1].get().digest : nil, size: size)
        }
        let version = try verified.get()
        switch hashed {
        case .success(let digests):
            return Result(
                version: version.version, method: method, digests: digests, dataSize: version.dataSize,
                pacing: writeback?.report)
        case .failure(let error as SystemError) where error.isNoSpace:
            throw SnapshotError.noSpace(at: staging)
        case .failure(let error):
            throw SnapshotError(code: .io, message: "reading or syncing the snapshot \(staging) failed: \(error)")
        }
    }

    /// Copies inside one read transaction. `startWriteback` is called once the staging file
    /// exists; the writeback it returns is cancelled if the copy fails, and left running (for
    /// the caller to finish) if it succeeds. `landed(n)`: bytes `0..<n` of a file copy are
    /// final (SQLite's backup says nothing: it rewrites the first page at the end).
    ///
    /// `versionQuery`: nil to skip the plan; otherwise the version is read from the source
    /// (`.some(nil)`: PRAGMA user_version) and `begin` gets the plan. `begin` runs once the
    /// transaction is open, before the first byte is copied.
    private static func copy(
        _ database: String, identity: [UInt64], to staging: String, busyTimeoutMilliseconds: Int32,
        pagesPerStep: Int32, versionQuery: String??, progress: (Int, Int) -> Void, landed: (Int64) -> Void,
        begin: (Plan?) throws -> Void, startWriteback: (String) -> PacedWriteback?
    ) throws -> Method {
        let source = try SQLiteConnection(
            path: database, mode: .readOnly, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        // Created here, not by SQLite, so that it is never readable by others (backups hold
        // the application's data).
        let output = try FileSystem.open(staging, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        defer { FileSystem.close(output) }
        let writeback = startWriteback(staging)
        var copied = false
        defer { if !copied { writeback?.cancel() } }

        // Hold one read transaction on the source for the whole copy (see the type's comment).
        try source.execute("BEGIN")
        defer { try? source.execute("COMMIT") }
        _ = try source.scalar("SELECT count(*) FROM sqlite_schema")
        // In WAL mode the application keeps writing during the copy, so the copy may wait for a
        // paced disk. In rollback-journal mode its writers wait for the copy: it never waits.
        let applicationWritesDuringCopy = try source.scalar("PRAGMA journal_mode") == "wal"
        let waitForDisk = {
            while applicationWritesDuringCopy, let writeback, writeback.isBehind {
                Syscalls.sleep(for: .milliseconds(10))
            }
        }

        let image = try FileImage(of: database, identity: identity, source: source, wal: applicationWritesDuringCopy)
        defer { if let image { FileSystem.close(image.descriptor) } }
        var plan: Plan?
        if let versionQuery {
            let size: Int64
            if let image {
                size = image.length
            } else {
                let pageSize = try source.scalar("PRAGMA page_size").flatMap(Int64.init) ?? 0
                size = pageSize * (try source.scalar("PRAGMA page_count").flatMap(Int64.init) ?? 0)
            }
            plan = Plan(
                version: try version(of: source, versionQuery: versionQuery, what: "the database"), size: size,
                method: image == nil ? .onlineBackup : .fileCopy)
        }
        try begin(plan)

        if let image {
            let copier = RangeCopier(from: image.descriptor, database, to: output, staging)
            let step = Int64(pagesPerStep) * image.pageSize
            var offset: Int64 = 0
            while offset < image.length {
                waitForDisk()
                let end = min(image.length, offset + step)
                try copier.copy(offset..<end)
                offset = end
                landed(offset)
                progress(Int(offset / image.pageSize), Int(image.length / image.pageSize))
            }
            copied = true
            return .fileCopy
        }

        let destination = try SQLiteConnection(path: staging, mode: .readWriteCreate)
        // The staging copy needs no journal: if we crash, the whole staging file is discarded.
        try destination.execute("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF")
        guard let backup = sqlite3_backup_init(destination.handle, "main", source.handle, "main") else {
            throw destination.error(sqlite3_errcode(destination.handle), "start of online backup")
        }
        var rc: Int32 = SQLITE_OK
        var busyWaitedMilliseconds: Int32 = 0
        while true {
            waitForDisk()
            rc = sqlite3_backup_step(backup, pagesPerStep)
            let total = Int(sqlite3_backup_pagecount(backup))
            progress(total - Int(sqlite3_backup_remaining(backup)), total)
            if rc == SQLITE_OK { continue }
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busyWaitedMilliseconds < busyTimeoutMilliseconds {
                Syscalls.sleep(for: .milliseconds(10))
                busyWaitedMilliseconds += 10
                continue
            }
            break
        }
        let finish = sqlite3_backup_finish(backup)
        if rc != SQLITE_DONE { throw destination.error(rc, "online backup of \(database)") }
        if finish != SQLITE_OK { throw destination.error(finish, "online backup of \(database)") }
        copied = true
        return .onlineBackup
    }

    /// The database file, when its first `length` bytes are exactly the snapshot of the read
    /// transaction `source` holds and nobody can change them before that transaction ends:
    ///
    /// - Rollback journal: every writer needs the shared lock on the file to be released
    ///   before it may write to the file.
    /// - WAL, with the WAL empty or absent while the transaction is held: the transaction then
    ///   reads the file alone (a reader that needs frames of the WAL keeps them there: the WAL
    ///   cannot be restarted or truncated under it), and a checkpoint may not copy frames into
    ///   the file while such a reader holds its lock. New commits go to the WAL only.
    ///
    /// Otherwise (pages of the snapshot are still in the WAL) nil: SQLite must copy it.
    private struct FileImage {
        let descriptor: Int32
        let pageSize: Int64
        let length: Int64

        init?(of database: String, identity: [UInt64], source: SQLiteConnection, wal: Bool) throws {
            if wal {
                do {
                    guard try FileSystem.size(database + "-wal") == 0 else { return nil }
                } catch  where error.errno == ENOENT {
                    // No WAL at all.
                } catch {
                    return nil
                }
            }
            guard let pageSize = try source.scalar("PRAGMA page_size").flatMap(Int64.init),
                let pages = try source.scalar("PRAGMA page_count").flatMap(Int64.init), pageSize > 0
            else { return nil }
            let descriptor = try FileSystem.open(database, O_RDONLY)
            // The file SQLite holds the transaction on, and long enough.
            guard FileSystem.identity(of: descriptor) == identity,
                (FileSystem.size(of: descriptor) ?? 0) >= pages * pageSize
            else {
                FileSystem.close(descriptor)
                return nil
            }
            (self.descriptor, self.pageSize, self.length) = (descriptor, pageSize, pages * pageSize)
        }
    }

    /// Checks the staging copy and reads its schema version from the copy itself, so the
    /// version always describes exactly the data that was saved; and how many bytes of its
    /// pages are in use (not on the free list).
    private static func verify(
        _ staging: String, versionQuery: String?
    ) throws(SnapshotError) -> (version: String, dataSize: Int64) {
        do {
            let copy = try SQLiteConnection(path: staging, mode: .immutable)
            let check = try copy.scalar("PRAGMA quick_check") ?? "no answer"
            guard check == "ok" else {
                throw SnapshotError(code: .verification, message: "the snapshot failed PRAGMA quick_check: \(check)")
            }
            let pages = { (pragma: String) throws -> Int64 in Int64(try copy.scalar("PRAGMA \(pragma)") ?? "") ?? 0 }
            let (count, free, size) = (try pages("page_count"), try pages("freelist_count"), try pages("page_size"))
            let dataSize = max(0, count - free) * size
            return (try version(of: copy, versionQuery: versionQuery, what: "the snapshot"), dataSize)
        } catch let error as SnapshotError {
            throw error
        } catch {
            throw SnapshotError(code: .verification, message: "the snapshot could not be verified: \(error)")
        }
    }

    /// The schema version of `connection`'s database: `versionQuery`'s value, or PRAGMA
    /// user_version. `what` names the database in messages ("the snapshot").
    private static func version(of connection: SQLiteConnection, versionQuery: String?, what: String) throws -> String {
        guard let versionQuery else { return try connection.scalar("PRAGMA user_version") ?? "0" }
        if let problem = try VersionQuery.problem(versionQuery, on: connection) {
            throw SnapshotError(code: .versionQuery, message: "database.version_query \(problem); \(VersionQuery.fix)")
        }
        let value: String?
        do {
            value = try connection.scalar(versionQuery)
        } catch {
            throw SnapshotError(
                code: .versionQuery,
                message:
                    """
                    database.version_query failed on \(what): \(error.message); fix the query in the main \
                    configuration
                    """
            )
        }
        if let problem = VersionQuery.valueProblem(value) {
            throw SnapshotError(code: .versionQuery, message: "database.version_query \(problem)")
        }
        return value ?? ""  // valid, so never nil
    }

    private static func classify(_ error: SQLiteError, database: String, staging: String) -> SnapshotError {
        if error.isNotADatabase {
            return SnapshotError(
                code: .notADatabase, message: "\(database) is not an SQLite database or is damaged: \(error.message)")
        }
        if error.isBusy {
            return SnapshotError(
                code: .busy,
                message:
                    """
                    \(database) stayed locked by another connection longer than the busy timeout; try again, or \
                    raise database.busy_timeout
                    """
            )
        }
        if error.isDiskFull {
            return .noSpace(at: staging)
        }
        if let explained = explain(error, database: database) { return explained }
        return SnapshotError(code: .io, message: "snapshot of \(database) failed: \(error)")
    }

    /// SQLite's codes for a database it may read but not recover or extend, with their cause and
    /// fix: a hot journal (a writer crashed mid-transaction) that a reader must roll back, and a
    /// WAL database whose -wal/-shm cannot be created or initialised, on a read-only mount above all.
    public static func explain(_ error: SQLiteError, database: String) -> SnapshotError? {
        let directory = FileSystem.parent(of: database)
        let readOnly = PathAccess.readOnly(directory)
        let mount: String
        switch readOnly {
        case .fileSystem(let point)?: mount = "the file system at \(point) is mounted read-only"
        case .thisMount(let point)? where PathAccess.inService:
            mount =
                """
                \(directory) is read-only in the service's sandbox (\(point) is not among the generated \
                ReadWritePaths=; run: dbbackup apply)
                """
        case .thisMount(let point)?: mount = "\(point) is a read-only mount"
        case nil: mount = ""
        }
        switch error.code {
        case SQLITE_READONLY | (3 << 8):  // SQLITE_READONLY_ROLLBACK
            let cause =
                """
                \(database)-journal is a hot journal: a writer stopped in the middle of a transaction, and the \
                database cannot be read until that transaction is rolled back, which a read-only reader such as a \
                backup may not do
                """
            let fix =
                readOnly == nil
                ? """
                let the application open the database once (SQLite rolls the journal back), or open it read-write \
                once as its owner: sqlite3 \(database) 'PRAGMA user_version'
                """
                : """
                \(mount), so nobody can roll it back there: remount it read-write and open the database once \
                (sqlite3 \(database) 'PRAGMA user_version'); copying the file alone would give a damaged backup
                """
            return SnapshotError(
                code: .io, message: "snapshot of \(database) failed: \(cause); \(fix) (SQLite code \(error.code))")
        case SQLITE_CANTOPEN, SQLITE_READONLY | (6 << 8), SQLITE_READONLY | (5 << 8), SQLITE_READONLY | (1 << 8):
            // CANTOPEN, READONLY_DIRECTORY, READONLY_CANTINIT, READONLY_RECOVERY
            guard LiveDatabase.isWAL(database) else { return nil }
            let cause =
                """
                \(database) is a WAL database, and a reader needs \(FileSystem.name(of: database))-wal and -shm \
                beside it, which SQLite could not create or set up
                """
            let fix =
                readOnly == nil
                ? PathAccess.unwritableReason(directory).map { "\(directory) \($0)" }
                    ?? "check the owner and mode of the files beside it"
                : """
                \(mount); make it writable, or take the database out of WAL mode before it goes read-only: \
                sqlite3 \(database) 'PRAGMA journal_mode=DELETE'
                """
            return SnapshotError(
                code: .permission,
                message:
                    "snapshot of \(database) failed: \(cause); \(fix) (SQLite code \(error.code): \(error.message))")
        default:
            return nil
        }
    }
}

/// Schema versions go into file names, so they are restricted to a safe alphabet.
public enum SchemaVersion {
    public static func isValid(_ version: String) -> Bool {
        !version.isEmpty && version.utf8.count <= 64
            && version.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
    }
}

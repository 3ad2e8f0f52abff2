import CSQLite
import FoundationEssentials
import Glibc
import SystemCalls

public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }

    /// An SQLite failure of the registry, with its cause and fix where SQLite's words alone
    /// would leave a sysadmin guessing.
    static func wrapping(_ error: SQLiteError, path: String, doing: String) -> RegistryError {
        let directory = FileSystem.parent(of: path)
        if error.isDiskFull {
            return RegistryError(
                message:
                    """
                    the registry \(path) cannot be written: the file system of \(directory) is full \
                    (\(error.message)); free space there, or move the state directory with --state-dir
                    """
            )
        }
        switch error.code & 0xff {
        case SQLITE_READONLY:
            return RegistryError(
                message:
                    """
                    the registry \(path) cannot be written: it or \(directory) is read-only for this user, or on \
                    a read-only mount (\(error.message)); run as the service user or root, or remount it read-write
                    """
            )
        case SQLITE_CANTOPEN where FileSystem.isDirectory(directory) && !mayOpen(path, in: directory):
            // Not a fault to mend with permissions: the registry is root's and the services'.
            return RegistryError(
                message:
                    """
                    this user may not open the registry \(path) (\(error.message)): it belongs to root and the \
                    backup services; run this command as root (sudo), or check the backups with dbbackup status \
                    --check, which reads the status file for members of group dbbackup-monitor
                    """
            )
        case SQLITE_CANTOPEN:
            return RegistryError(
                message:
                    """
                    the registry \(path) cannot be opened (\(error.message)); check that \(directory) exists and \
                    this user may write it
                    """
            )
        default:
            return RegistryError(message: "the registry \(path) failed while \(doing): \(error)")
        }
    }

    /// Whether this user may open the registry (and create its -wal and -shm files) at all.
    private static func mayOpen(_ path: String, in directory: String) -> Bool {
        guard case .success = Syscalls.access(directory, R_OK | W_OK | X_OK) else { return false }
        if FileSystem.exists(path), case .failure = Syscalls.access(path, R_OK | W_OK) { return false }
        return true
    }
}

/// What opening the registry found, for the run and `status` to report.
public enum RegistryRecovery: Sendable, Equatable {
    /// There was no registry: this one is new. Backups stored before (if any) are unknown to it.
    case created
    /// The registry was damaged: it was renamed to `setAsideAs` (never deleted) and a new one started.
    case setAside(setAsideAs: String, reason: String)

    public var warning: String? {
        switch self {
        case .created: nil
        case .setAside(let path, let reason):
            """
            the registry was damaged (\(reason)); it was set aside as \(path) and a new one was started, so \
            earlier backups are unknown to list, restore and retention until you run: dbbackup registry rebuild
            """
        }
    }
}

/// The record of every backup taken, in an SQLite database in the state directory.
/// Retention and restore work from here, so no store ever needs to be listed.
///
/// Order: every row gets the next value of `sequence` when it is written, so "newest" means
/// "recorded last" whatever the clock said (a clock stepped back never makes a new backup look
/// old). Backups found by `registry rebuild` are placed before every row already there.
public final class BackupRegistry {
    static let schemaVersion = 4
    let db: SQLiteConnection
    public let path: String
    /// Set when this open created the registry or set a damaged one aside.
    public let recovery: RegistryRecovery?

    public init(path: String) throws {
        self.path = path
        let directory = FileSystem.parent(of: path)
        try FileSystem.makeDirectories(directory, mode: 0o750)
        var recovery: RegistryRecovery? = FileSystem.exists(path) ? nil : .created
        do {
            db = try Self.open(path, directory: directory, isNew: recovery == .created)
        } catch let error as SQLiteError where error.isNotADatabase {
            // Never deleted: renamed beside the new one, for `registry rebuild` and for people.
            let aside = "\(path).damaged-\(Timestamp.now().compact)"
            for suffix in ["", "-wal", "-shm"] where FileSystem.exists(path + suffix) {
                try? FileSystem.rename(path + suffix, aside + suffix)
            }
            recovery = .setAside(setAsideAs: aside, reason: error.message)
            do {
                db = try Self.open(path, directory: directory, isNew: true)
            } catch let error as SQLiteError {
                throw RegistryError.wrapping(error, path: path, doing: "starting a new registry")
            }
        } catch let error as SQLiteError {
            throw RegistryError.wrapping(error, path: path, doing: "opening")
        }
        self.recovery = recovery
    }

    private static func open(_ path: String, directory: String, isNew: Bool) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate, busyTimeoutMilliseconds: 10_000)
        // SQLite gives -wal/-shm files the database file's owner when root opens it.
        if isNew { FileSystem.adoptOwnership(path, of: directory) }
        // Runs started together may all be opening a new registry: the first switches it
        // to WAL, and SQLite answers the others "database is locked" without waiting.
        try db.executeRetryingBusy("PRAGMA journal_mode=WAL", timeout: .seconds(10))
        try db.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON")
        // A damaged registry must be noticed here, where it can be set aside, not halfway
        // through recording a backup. The registry is small: this costs milliseconds.
        if !isNew, let check = try db.scalar("PRAGMA quick_check"), check != "ok" {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "PRAGMA quick_check: \(check)", context: "open \(path)")
        }
        try migrate(db)
        return db
    }

    /// Creates or upgrades the schema. Several processes may open a new registry at once, so
    /// the version is read again inside the write transaction.
    private static func migrate(_ db: SQLiteConnection) throws {
        try db.transaction {
            let version = Int(try db.scalar("PRAGMA user_version") ?? "0") ?? 0
            if version > schemaVersion {
                throw RegistryError(
                    message: "it was written by a newer dbbackup (registry schema \(version)); upgrade dbbackup")
            }
            if version < 1 {
                try db.execute(
                    """
                    CREATE TABLE backups (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        registration TEXT NOT NULL,
                        provider TEXT NOT NULL,
                        path TEXT,
                        bucket TEXT,
                        object_key TEXT,
                        version TEXT,
                        size INTEGER,
                        sha256 TEXT,
                        started_at INTEGER NOT NULL,
                        finished_at INTEGER,
                        trigger TEXT NOT NULL,
                        state TEXT NOT NULL,
                        error TEXT
                    );
                    CREATE INDEX backups_by_location ON backups(path, object_key);
                    """)
            }
            if version < 2 {
                // sequence: the order of recording (ids were assigned in that order, so rows of
                // schema 1 keep theirs). endpoint/region/path_style: where an object was stored.
                // suspect/confirmed_at: backups that look wrong. plain_*: the database behind a
                // compressed or encrypted backup. leftover: a failed upload whose key may still
                // hold an object (a late PUT), deleted again by later runs. database: the file
                // the backup was taken of (suspect backups are judged against the same one).
                try db.execute(
                    """
                    ALTER TABLE backups ADD COLUMN sequence INTEGER;
                    UPDATE backups SET sequence = id;
                    ALTER TABLE backups ADD COLUMN endpoint TEXT;
                    ALTER TABLE backups ADD COLUMN region TEXT;
                    ALTER TABLE backups ADD COLUMN path_style INTEGER;
                    ALTER TABLE backups ADD COLUMN suspect TEXT;
                    ALTER TABLE backups ADD COLUMN confirmed_at INTEGER;
                    ALTER TABLE backups ADD COLUMN plain_size INTEGER;
                    ALTER TABLE backups ADD COLUMN plain_sha256 TEXT;
                    ALTER TABLE backups ADD COLUMN leftover INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE backups ADD COLUMN database TEXT;
                    DROP INDEX IF EXISTS backups_by_registration;
                    CREATE INDEX backups_by_registration ON backups(registration, state, sequence);
                    CREATE INDEX backups_by_sequence ON backups(sequence);
                    PRAGMA user_version = 2;
                    """)
            }
            if version < 3 {
                // data_size: the bytes of the database's pages in use (not free), so that a
                // database whose rows were deleted, and whose file kept its size, is judged by
                // what it holds. Unknown (NULL) for older rows: they are judged by file size.
                // cleanup_error: why the last delete of a failed upload's key failed (monitoring
                // warns while it is set).
                try db.execute(
                    """
                    ALTER TABLE backups ADD COLUMN data_size INTEGER;
                    ALTER TABLE backups ADD COLUMN cleanup_error TEXT;
                    PRAGMA user_version = 3;
                    """)
            }
            if version < 4 {
                // boot_id/boot_ms: the boot clock when a backup was stored, beside finished_at,
                // so monitoring can tell the time that truly passed since, after the wall clock
                // was stepped (see `BootInstant`). Unknown (NULL) for older rows.
                try db.execute(
                    """
                    ALTER TABLE backups ADD COLUMN boot_id TEXT;
                    ALTER TABLE backups ADD COLUMN boot_ms INTEGER;
                    PRAGMA user_version = 4;
                    """)
            }
        }
    }

    private static let columns = """
        id, sequence, registration, provider, path, bucket, object_key, endpoint, region, path_style, version, size, \
        sha256,
        plain_size, plain_sha256, started_at, finished_at, trigger, state, error, suspect, confirmed_at, data_size,
        cleanup_error, boot_id, boot_ms
        """

    private func records(_ whereClause: String, _ values: [SQLiteValue] = []) throws -> [BackupRecord] {
        let statement = try db.prepare("SELECT \(Self.columns) FROM backups \(whereClause)")
        try statement.bind(values)
        var result: [BackupRecord] = []
        let optionalInt = { (column: Int32) in statement.isNull(column) ? nil : statement.int64(column) }
        let optionalTime = { (column: Int32) in optionalInt(column).map(Timestamp.init(millisecondsSinceEpoch:)) }
        while try statement.step() {
            let location: BackupLocation? =
                if let path = statement.text(4) {
                    .file(path: path)
                } else if let bucket = statement.text(5), let key = statement.text(6) {
                    .object(
                        S3ObjectAddress(
                            endpoint: statement.text(7), region: statement.text(8),
                            forcePathStyle: optionalInt(9).map { $0 != 0 }, bucket: bucket, key: key))
                } else { nil }
            result.append(
                BackupRecord(
                    id: statement.int64(0),
                    sequence: statement.int64(1),
                    registration: statement.text(2) ?? "",
                    provider: statement.text(3) ?? "",
                    location: location,
                    version: statement.text(10),
                    size: optionalInt(11),
                    sha256: statement.text(12),
                    plainSize: optionalInt(13),
                    plainSHA256: statement.text(14),
                    startedAt: Timestamp(millisecondsSinceEpoch: statement.int64(15)),
                    finishedAt: optionalTime(16),
                    trigger: BackupTrigger(rawValue: statement.text(17) ?? "") ?? .manual,
                    state: BackupState(rawValue: statement.text(18) ?? "") ?? .failed,
                    error: statement.text(19),
                    suspect: statement.text(20),
                    confirmedAt: optionalTime(21),
                    dataSize: optionalInt(22),
                    cleanupError: statement.text(23),
                    storedBoot: statement.text(24).flatMap { id in
                        optionalInt(25).map { BootInstant(bootID: id, milliseconds: $0) }
                    }))
        }
        return result
    }

    /// Writes with the registry's own errors: a full disk or a read-only mount is named as such.
    private func write<T>(_ doing: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            throw RegistryError.wrapping(error, path: path, doing: doing)
        }
    }

    // MARK: recording a run

    private static func locationValues(_ location: BackupLocation) -> [SQLiteValue] {
        switch location {
        case .file(let path): [.text(path), .null, .null, .null, .null, .null]
        case .object(let object):
            [
                .null, .text(object.bucket), .text(object.key), .optional(object.endpoint), .optional(object.region),
                .optional(object.forcePathStyle.map { $0 ? 1 : 0 }),
            ]
        }
    }

    /// The next value of the sequence, computed inside the statement that writes the row.
    private static let nextSequence = "(SELECT coalesce(max(sequence), 0) + 1 FROM backups)"

    /// Records a backup about to be placed, under the first name `location(attempt)` gives
    /// (attempts 1, 2, …) that no backup has ever had, in one transaction: two runs that share
    /// a directory or a bucket can never claim the same name. It becomes visible with `markStored`.
    public func claim(
        _ backup: NewBackup, location: (Int) -> BackupLocation
    ) throws -> (id: Int64, attempt: Int, location: BackupLocation) {
        try write("recording a new backup") {
            try db.transaction {
                let (attempt, claimed) = try firstUnclaimed(after: 0, location)
                try db.prepare(
                    """
                    INSERT INTO backups (sequence, registration, provider, path, bucket, object_key, endpoint, \
                    region, path_style,
                                         version, size, sha256, plain_size, plain_sha256, started_at, trigger, state, \
                                         suspect, database, data_size)
                    VALUES (\(Self.nextSequence), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)
                    """
                ).run(
                    [.text(backup.registration), .text(backup.provider)] + Self.locationValues(claimed) + [
                        .text(backup.version), .integer(backup.size),
                        backup.sha256.isEmpty ? .null : .text(backup.sha256), .optional(backup.plainSize),
                        .optional(backup.plainSHA256), .integer(backup.startedAt.millisecondsSinceEpoch),
                        .text(backup.trigger.rawValue), .optional(backup.suspect), .optional(backup.database),
                        .optional(backup.dataSize),
                    ])
                return (db.lastInsertRowID, attempt, claimed)
            }
        }
    }

    /// Moves a pending backup to the next name after `attempt` that nobody has claimed, when
    /// `place` found its name taken in the store by something the registry does not know.
    public func reclaim(
        _ id: Int64, after attempt: Int, location: (Int) -> BackupLocation
    ) throws -> (attempt: Int, location: BackupLocation) {
        try write("recording a new name") {
            try db.transaction {
                let (next, claimed) = try firstUnclaimed(after: attempt, location)
                try db.prepare(
                    """
                    UPDATE backups SET path = ?, bucket = ?, object_key = ?, endpoint = ?, region = ?, path_style \
                    = ? WHERE id = ?
                    """
                )
                .run(Self.locationValues(claimed) + [.integer(id)])
                return (next, claimed)
            }
        }
    }

    private func firstUnclaimed(after start: Int, _ location: (Int) -> BackupLocation) throws -> (Int, BackupLocation) {
        for attempt in (start + 1)...(start + 1000) {
            let candidate = location(attempt)
            if try !isClaimed(candidate) { return (attempt, candidate) }
        }
        throw RegistryError(message: "no free backup name after \(start + 1000) attempts (\(location(start + 1)))")
    }

    /// What a backup claimed before its snapshot was copied (an upload that starts with the
    /// copy: `claim` with an empty SHA-256) turned out to be, once the copy is verified.
    public func recordVerified(
        _ id: Int64, size: Int64, sha256: String, suspect: String?, dataSize: Int64? = nil
    ) throws {
        try write("recording a verified backup") {
            try db.prepare(
                "UPDATE backups SET size = ?, sha256 = ?, suspect = ?, data_size = ? WHERE id = ? AND state = 'pending'"
            )
            .run([.integer(size), .text(sha256), .optional(suspect), .optional(dataSize), .integer(id)])
        }
    }

    /// `boot`: the boot clock at `time` (see `BackupRecord.storedBoot`).
    public func markStored(_ id: Int64, at time: Timestamp = .now(), boot: BootInstant? = .now()) throws {
        try write("recording a backup's state") {
            try db.prepare(
                "UPDATE backups SET state = 'stored', finished_at = ?, boot_id = ?, boot_ms = ? WHERE id = ?"
            )
            .run([
                .integer(time.millisecondsSinceEpoch), .optional(boot?.bootID), .optional(boot?.milliseconds),
                .integer(id),
            ])
        }
    }

    /// `leftover`: the store may hold an object under this backup's key although the run
    /// failed (an upload answered with an error after storing, or a PUT that arrives late);
    /// later runs delete it again (see `leftovers(of:)`).
    public func markFailed(_ id: Int64, error: String, leftover: Bool = false, at time: Timestamp = .now()) throws {
        try setState(id, .failed, finishedAt: time, error: error)
        if leftover {
            try write("recording a leftover") {
                try db.prepare("UPDATE backups SET leftover = 1 WHERE id = ?").run([.integer(id)])
            }
        }
    }

    public func markPruning(_ id: Int64) throws { try setState(id, .pruning) }
    public func markPruned(_ id: Int64) throws { try setState(id, .pruned) }

    private func setState(_ id: Int64, _ state: BackupState, finishedAt: Timestamp? = nil, error: String? = nil) throws
    {
        try write("recording a backup's state") {
            try db.prepare(
                """
                UPDATE backups SET state = ?, finished_at = coalesce(?, finished_at), error = coalesce(?, error) \
                WHERE id = ?
                """
            )
            .run([.text(state.rawValue), .optional(finishedAt?.millisecondsSinceEpoch), .optional(error), .integer(id)])
        }
    }

    /// Records a run that failed before anything was stored, so `status` can report it.
    public func recordFailure(
        registration: String, provider: String, startedAt: Timestamp, trigger: BackupTrigger, error: String
    ) throws {
        try write("recording a failed run") {
            try db.prepare(
                """
                INSERT INTO backups (sequence, registration, provider, started_at, finished_at, trigger, state, error)
                VALUES (\(Self.nextSequence), ?, ?, ?, ?, ?, 'failed', ?)
                """
            ).run([
                .text(registration), .text(provider), .integer(startedAt.millisecondsSinceEpoch),
                .integer(Timestamp.now().millisecondsSinceEpoch), .text(trigger.rawValue), .text(error),
            ])
        }
    }

    /// A person confirmed a suspect backup as right: it counts as good from now on.
    public func confirm(_ id: Int64, at time: Timestamp = .now()) throws {
        try write("confirming a backup") {
            try db.prepare("UPDATE backups SET confirmed_at = ? WHERE id = ? AND suspect IS NOT NULL")
                .run([.integer(time.millisecondsSinceEpoch), .integer(id)])
        }
    }

    /// A person took a backup out of the registry's hands (`registry forget`): it no longer
    /// counts, and nothing will try to delete it again. The file or object is not touched.
    /// A failed run's row keeps its state (it was never a success) and only stops being
    /// watched as a leftover; any other row becomes `pruned`.
    public func forget(_ id: Int64, at time: Timestamp = .now()) throws {
        try write("forgetting a backup") {
            try db.prepare(
                """
                UPDATE backups SET state = CASE state WHEN 'failed' THEN 'failed' ELSE 'pruned' END, leftover = 0, \
                cleanup_error = NULL,
                error = CASE state WHEN 'failed' THEN coalesce(error || '; ', '') || ?1 ELSE ?1 END WHERE id = ?2
                """
            )
            .run([.text("forgotten by hand at \(time.rfc3339)"), .integer(id)])
        }
    }

    /// The leftover of a failed upload was deleted at `time`; `done` ends the watch for it.
    public func leftoverDeleted(_ id: Int64, done: Bool) throws {
        try write("recording a removed leftover") {
            try db.prepare(
                "UPDATE backups SET cleanup_error = NULL, leftover = CASE WHEN ? THEN 0 ELSE leftover END WHERE id = ?"
            )
            .run([.integer(done ? 1 : 0), .integer(id)])
        }
    }

    /// The delete of a failed upload's key failed: monitoring warns until one succeeds.
    public func leftoverDeleteFailed(_ id: Int64, error: String) throws {
        try write("recording a leftover not removed") {
            try db.prepare("UPDATE backups SET cleanup_error = ? WHERE id = ?").run([.text(error), .integer(id)])
        }
    }

    /// Records backups found in a store (`registry rebuild`), oldest first, as stored and
    /// before every row already in the registry: the registry was lost, so whatever it holds
    /// now was recorded after them.
    public func insertFound(_ backups: [(backup: NewBackup, finishedAt: Timestamp)]) throws -> [Int64] {
        try write("recording rebuilt backups") {
            try db.transaction {
                let first = Int64(try db.scalar("SELECT coalesce(min(sequence), 1) FROM backups") ?? "1") ?? 1
                var ids: [Int64] = []
                for (offset, found) in backups.enumerated() {
                    let backup = found.backup
                    let sequence = first - Int64(backups.count) + Int64(offset)
                    try db.prepare(
                        """
                        INSERT INTO backups (sequence, registration, provider, path, bucket, object_key, endpoint, \
                        region, path_style,
                                             version, size, sha256, plain_size, plain_sha256, started_at, \
                                             finished_at, trigger, state)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'stored')
                        """
                    ).run(
                        [.integer(sequence), .text(backup.registration), .text(backup.provider)]
                            + Self.locationValues(backup.location) + [
                                .text(backup.version), .integer(backup.size), .text(backup.sha256),
                                .optional(backup.plainSize),
                                .optional(backup.plainSHA256), .integer(backup.startedAt.millisecondsSinceEpoch),
                                .integer(found.finishedAt.millisecondsSinceEpoch), .text(backup.trigger.rawValue),
                            ])
                    ids.append(db.lastInsertRowID)
                }
                return ids
            }
        }
    }

    /// Judges again, in the order they were recorded, a registration's stored backups from
    /// the first of `found` on (`registry rebuild`). The backups it found were recorded with no
    /// judgement, and the runs after the registry was lost had nothing to judge by: a database
    /// emptied meanwhile looked like a first backup, and retention would keep it over the good
    /// ones. Each backup nobody confirmed is judged against the last good one before it (of
    /// whichever database: found backups do not say which); a mark already there stays.
    /// Returns the backups it marked suspect.
    public func judgeAgain(registration: String, found: [Int64]) throws -> [BackupRecord] {
        let rows = try storedBackups(registration: registration)
        guard let first = rows.filter({ found.contains($0.id) }).map(\.sequence).min() else { return [] }
        var lastGood = try lastGood(of: registration, database: nil, before: first)
        var marked: [Int64] = []
        for row in rows where row.sequence >= first && !row.isUnconfirmedSuspect {
            if row.confirmedAt == nil,
                let reason = SuspectCheck.reason(
                    size: row.plainSize ?? row.size ?? 0, dataSize: row.dataSize, version: row.version ?? "",
                    baseline: lastGood)
            {
                try write("marking a suspect backup") {
                    try db.prepare("UPDATE backups SET suspect = ? WHERE id = ?").run([.text(reason), .integer(row.id)])
                }
                marked.append(row.id)
            } else {
                lastGood = row
            }
        }
        return try marked.compactMap { try backup(id: $0) }
    }

    // MARK: queries

    /// Stored backups, oldest first (in the order they were recorded); of one registration when given.
    public func storedBackups(registration: String? = nil) throws -> [BackupRecord] {
        try backups(in: [.stored], registration: registration)
    }

    /// Backups in one of `states`, oldest first; of one registration when given.
    public func backups(in states: Set<BackupState>, registration: String? = nil) throws -> [BackupRecord] {
        let list = states.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")
        if let registration {
            return try records(
                "WHERE state IN (\(list)) AND registration = ? ORDER BY sequence, id", [.text(registration)])
        }
        return try records("WHERE state IN (\(list)) ORDER BY sequence, id")
    }

    public func backups(in state: BackupState, registration: String? = nil) throws -> [BackupRecord] {
        try backups(in: [state], registration: registration)
    }

    public func backup(id: Int64) throws -> BackupRecord? {
        try records("WHERE id = ?", [.integer(id)]).first
    }

    /// Whether any backup ever recorded, in whatever state, had this location. A name is
    /// never given twice: a later backup can then never be mistaken for, or deleted as, an
    /// earlier one of the same name (runs within one second get `_002`, `_003`…).
    public func isClaimed(_ location: BackupLocation) throws -> Bool {
        switch location {
        case .file(let path):
            return try !records("WHERE path = ? LIMIT 1", [.text(path)]).isEmpty
        case .object(let object):
            // A row of schema 1 does not know its endpoint: it may be this one.
            return try !records(
                "WHERE bucket = ? AND object_key = ? AND (endpoint IS NULL OR endpoint = ?) LIMIT 1",
                [.text(object.bucket), .text(object.key), .text(object.endpoint ?? "")]
            ).isEmpty
        }
    }

    /// The newest successful backup of a registration, whether still kept or since pruned.
    public func lastSuccess(of registration: String) throws -> BackupRecord? {
        try records(
            """
            WHERE registration = ? AND state IN ('stored', 'pruning', 'pruned') ORDER BY sequence DESC, id DESC \
            LIMIT 1
            """,
            [.text(registration)]
        ).first
    }

    /// The newest backup of a registration that counts as good (not an unconfirmed suspect),
    /// whether still kept or since pruned, taken of `database` (or of a database not recorded),
    /// or of any database when it is nil: the baseline a new backup is judged by. After `init`
    /// points the configuration at another database, that one's first backup is judged only by
    /// whether it is empty. `before`: recorded before that sequence number (`judgeAgain`).
    public func lastGood(
        of registration: String, database: String?, before sequence: Int64 = .max
    ) throws -> BackupRecord? {
        try records(
            """
            WHERE registration = ? AND state IN ('stored', 'pruning', 'pruned') AND (suspect IS NULL OR confirmed_at \
            IS NOT NULL)
              AND (database IS NULL OR ?2 IS NULL OR database = ?2) AND sequence < ?3
            ORDER BY sequence DESC, id DESC LIMIT 1
            """, [.text(registration), .optional(database), .integer(sequence)]
        ).first
    }

    /// The newest run of a registration that ended in `state` (stored or failed).
    public func lastRun(of registration: String, state: BackupState) throws -> BackupRecord? {
        try records(
            "WHERE registration = ? AND state = ? ORDER BY sequence DESC, id DESC LIMIT 1",
            [.text(registration), .text(state.rawValue)]
        ).first
    }

    /// Failed uploads of a registration whose key may still hold an object.
    public func leftovers(of registration: String) throws -> [BackupRecord] {
        try records(
            "WHERE registration = ? AND state = 'failed' AND leftover = 1 ORDER BY sequence, id", [.text(registration)])
    }
}

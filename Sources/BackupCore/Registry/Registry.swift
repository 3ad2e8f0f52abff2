/// Where a backup is stored.
public enum BackupLocation: Sendable, Equatable, CustomStringConvertible {
    case file(path: String)
    case object(bucket: String, key: String)

    public var description: String {
        switch self {
        case .file(let path): path
        case .object(let bucket, let key): "s3://\(bucket)/\(key)"
        }
    }
}

public enum BackupTrigger: String, Sendable, CaseIterable { case timer, migration, manual }

/// A backup's life in the registry. Only `stored` backups exist for users; the other states
/// let a crash at any point be repaired on the next run.
public enum BackupState: String, Sendable {
    /// Recorded before the file is placed under its final name; settled by the next run.
    case pending
    case stored
    /// Chosen for deletion by retention; deletion is retried until it succeeds.
    case pruning
    case pruned
    case failed
}

public struct BackupRecord: Sendable, Equatable {
    public let id: Int64
    public let registration: String
    public let provider: String
    public let location: BackupLocation?
    public let version: String?
    public let size: Int64?
    public let sha256: String?
    public let startedAt: Timestamp
    public let finishedAt: Timestamp?
    public let trigger: BackupTrigger
    public let state: BackupState
    public let error: String?

    /// The backup's time: when its snapshot was taken (also the time in its file name).
    public var createdAt: Timestamp { startedAt }
}

public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The record of every backup taken, in an SQLite database in the state directory.
/// Retention and restore work from here, so no store ever needs to be listed.
public final class Registry {
    static let schemaVersion = 1
    let db: SQLiteConnection
    public let path: String

    public init(path: String) throws {
        self.path = path
        let directory = FileSystem.parent(of: path)
        try FileSystem.makeDirectories(directory, mode: 0o750)
        let isNew = !FileSystem.exists(path)
        do {
            db = try SQLiteConnection(path: path, mode: .readWriteCreate, busyTimeoutMilliseconds: 10_000)
            // SQLite gives -wal/-shm files the database file's owner when root opens it.
            if isNew { FileSystem.adoptOwnership(path, of: directory) }
            // Runs started together may all be opening a new registry: the first switches it
            // to WAL, and SQLite answers the others "database is locked" without waiting.
            try db.executeRetryingBusy("PRAGMA journal_mode=WAL", timeout: .seconds(10))
            try db.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON")
            try migrate()
        } catch {
            throw RegistryError(message: "the registry \(path) cannot be opened: \(error)")
        }
    }

    /// Creates or upgrades the schema. Several processes may open a new registry at once, so
    /// the version is read again inside the write transaction.
    private func migrate() throws {
        try db.transaction {
            let version = Int(try db.scalar("PRAGMA user_version") ?? "0") ?? 0
            if version > Self.schemaVersion {
                throw RegistryError(message: "it was written by a newer dbbackup (registry schema \(version)); upgrade dbbackup")
            }
            guard version < Self.schemaVersion else { return }
            try db.execute("""
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
                CREATE INDEX backups_by_registration ON backups(registration, state, started_at);
                CREATE INDEX backups_by_location ON backups(path, object_key);
                PRAGMA user_version = 1;
                """)
        }
    }

    private static let columns = "id, registration, provider, path, bucket, object_key, version, size, sha256, started_at, finished_at, trigger, state, error"

    private func records(_ whereClause: String, _ values: [SQLiteValue] = []) throws -> [BackupRecord] {
        let statement = try db.prepare("SELECT \(Self.columns) FROM backups \(whereClause)")
        try statement.bind(values)
        var result: [BackupRecord] = []
        while try statement.step() {
            let location: BackupLocation? =
                if let path = statement.text(3) { .file(path: path) }
                else if let bucket = statement.text(4), let key = statement.text(5) { .object(bucket: bucket, key: key) }
                else { nil }
            result.append(BackupRecord(
                id: statement.int64(0),
                registration: statement.text(1) ?? "",
                provider: statement.text(2) ?? "",
                location: location,
                version: statement.text(6),
                size: statement.isNull(7) ? nil : statement.int64(7),
                sha256: statement.text(8),
                startedAt: Timestamp(millisecondsSinceEpoch: statement.int64(9)),
                finishedAt: statement.isNull(10) ? nil : Timestamp(millisecondsSinceEpoch: statement.int64(10)),
                trigger: BackupTrigger(rawValue: statement.text(11) ?? "") ?? .manual,
                state: BackupState(rawValue: statement.text(12) ?? "") ?? .failed,
                error: statement.text(13)))
        }
        return result
    }

    // MARK: recording a run

    public struct NewBackup: Sendable {
        public var registration: String
        public var provider: String
        public var location: BackupLocation
        public var version: String
        public var size: Int64
        public var sha256: String
        public var startedAt: Timestamp
        public var trigger: BackupTrigger

        public init(registration: String, provider: String, location: BackupLocation, version: String, size: Int64,
                    sha256: String, startedAt: Timestamp, trigger: BackupTrigger) {
            self.registration = registration
            self.provider = provider
            self.location = location
            self.version = version
            self.size = size
            self.sha256 = sha256
            self.startedAt = startedAt
            self.trigger = trigger
        }
    }

    private static func locationValues(_ location: BackupLocation) -> [SQLiteValue] {
        switch location {
        case .file(let path): [.text(path), .null, .null]
        case .object(let bucket, let key): [.null, .text(bucket), .text(key)]
        }
    }

    /// Records a backup about to be placed. It becomes visible only with `markStored`.
    public func beginBackup(_ backup: NewBackup) throws -> Int64 {
        try db.prepare("""
            INSERT INTO backups (registration, provider, path, bucket, object_key, version, size, sha256, started_at, trigger, state)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')
            """).run([.text(backup.registration), .text(backup.provider)] + Self.locationValues(backup.location) + [
                .text(backup.version), .integer(backup.size), .text(backup.sha256),
                .integer(backup.startedAt.millisecondsSinceEpoch), .text(backup.trigger.rawValue)])
        return db.lastInsertRowID
    }

    public func updateLocation(_ id: Int64, _ location: BackupLocation) throws {
        try db.prepare("UPDATE backups SET path = ?, bucket = ?, object_key = ? WHERE id = ?")
            .run(Self.locationValues(location) + [.integer(id)])
    }

    public func markStored(_ id: Int64, at time: Timestamp = .now()) throws {
        try setState(id, .stored, finishedAt: time)
    }

    public func markFailed(_ id: Int64, error: String, at time: Timestamp = .now()) throws {
        try setState(id, .failed, finishedAt: time, error: error)
    }

    public func markPruning(_ id: Int64) throws { try setState(id, .pruning) }
    public func markPruned(_ id: Int64) throws { try setState(id, .pruned) }

    private func setState(_ id: Int64, _ state: BackupState, finishedAt: Timestamp? = nil, error: String? = nil) throws {
        try db.prepare("UPDATE backups SET state = ?, finished_at = coalesce(?, finished_at), error = coalesce(?, error) WHERE id = ?")
            .run([.text(state.rawValue), .optional(finishedAt?.millisecondsSinceEpoch), .optional(error), .integer(id)])
    }

    /// Records a run that failed before anything was stored, so `status` can report it.
    public func recordFailure(registration: String, provider: String, startedAt: Timestamp, trigger: BackupTrigger, error: String) throws {
        try db.prepare("""
            INSERT INTO backups (registration, provider, started_at, finished_at, trigger, state, error)
            VALUES (?, ?, ?, ?, ?, 'failed', ?)
            """).run([.text(registration), .text(provider), .integer(startedAt.millisecondsSinceEpoch),
                      .integer(Timestamp.now().millisecondsSinceEpoch), .text(trigger.rawValue), .text(error)])
    }

    // MARK: queries

    /// Stored backups, oldest first; of one registration when given.
    public func storedBackups(registration: String? = nil) throws -> [BackupRecord] {
        if let registration {
            return try records("WHERE state = 'stored' AND registration = ? ORDER BY started_at, id", [.text(registration)])
        }
        return try records("WHERE state = 'stored' ORDER BY started_at, id")
    }

    public func backups(in state: BackupState, registration: String? = nil) throws -> [BackupRecord] {
        if let registration {
            return try records("WHERE state = ? AND registration = ? ORDER BY started_at, id", [.text(state.rawValue), .text(registration)])
        }
        return try records("WHERE state = ? ORDER BY started_at, id", [.text(state.rawValue)])
    }

    public func backup(id: Int64) throws -> BackupRecord? {
        try records("WHERE id = ?", [.integer(id)]).first
    }

    /// Whether any backup ever recorded, in whatever state, had this location. A name is
    /// never given twice: a later backup can then never be mistaken for, or deleted as, an
    /// earlier one of the same name (runs within one second get `_2`, `_3`…).
    public func isClaimed(_ location: BackupLocation) throws -> Bool {
        let values = Self.locationValues(location)
        return try !records("WHERE path IS ? AND bucket IS ? AND object_key IS ? LIMIT 1", values).isEmpty
    }

    /// The newest successful backup of a registration, whether still kept or since pruned.
    public func lastSuccess(of registration: String) throws -> BackupRecord? {
        try records("WHERE registration = ? AND state IN ('stored', 'pruning', 'pruned') ORDER BY started_at DESC, id DESC LIMIT 1",
                    [.text(registration)]).first
    }

    /// The newest run of a registration that ended in `state` (stored or failed).
    public func lastRun(of registration: String, state: BackupState) throws -> BackupRecord? {
        try records("WHERE registration = ? AND state = ? ORDER BY started_at DESC, id DESC LIMIT 1",
                    [.text(registration), .text(state.rawValue)]).first
    }
}

import FoundationEssentials
import Glibc

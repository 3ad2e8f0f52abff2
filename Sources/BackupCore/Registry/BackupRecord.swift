import SystemCalls

/// Where an S3 backup was stored: the store's address as the registration had it then, the
/// bucket and the key. Retention deletes exactly here, even after `registration edit` moved the
/// registration to another bucket or endpoint.
public struct S3ObjectAddress: Sendable, Equatable, Hashable {
    /// The endpoint URL ("" = AWS); nil for backups recorded before dbbackup kept it (then the
    /// registration's current endpoint is assumed).
    public var endpoint: String?
    public var region: String?
    public var forcePathStyle: Bool?
    public var bucket: String
    public var key: String

    public init(endpoint: String?, region: String?, forcePathStyle: Bool?, bucket: String, key: String) {
        self.endpoint = endpoint
        self.region = region
        self.forcePathStyle = forcePathStyle
        self.bucket = bucket
        self.key = key
    }
}

/// Where a backup is stored.
public enum BackupLocation: Sendable, Equatable, CustomStringConvertible {
    case file(path: String)
    case object(S3ObjectAddress)

    /// `/var/backups/app/db_v42_….db` or `s3://bucket/key`, as people and `list --json` see it.
    public var description: String {
        switch self {
        case .file(let path): path
        case .object(let object): "s3://\(object.bucket)/\(object.key)"
        }
    }

    /// The file name: what follows the last `/` of the path or key.
    public var fileName: String {
        switch self {
        case .file(let path): FileSystem.name(of: path)
        case .object(let object): FileSystem.name(of: object.key)
        }
    }
}

public enum BackupTrigger: String, Sendable, CaseIterable { case timer, migration, manual }

/// A backup's life in the registry. Only `stored` backups exist for users; the other states
/// let a crash at any point be repaired on the next run.
public enum BackupState: String, Sendable, CaseIterable {
    /// Recorded before the file is placed under its final name; settled by the next run.
    case pending
    case stored
    /// Chosen for deletion by retention; deletion is retried until it succeeds. The backup
    /// still exists until then, so `list` shows it.
    case pruning
    case pruned
    case failed
}

public struct BackupRecord: Sendable, Equatable {
    public let id: Int64
    /// The order backups were made in: a counter the clock cannot reverse. Newest and oldest,
    /// for retention, `restore latest` and `list`, come from here, never from a timestamp.
    public let sequence: Int64
    public let registration: String
    public let provider: String
    public let location: BackupLocation?
    public let version: String?
    /// Size and SHA-256 of the bytes stored (what the file or object holds).
    public let size: Int64?
    public let sha256: String?
    /// Size and SHA-256 of the plain database, when the stored form differs from it
    /// (compressed or encrypted); nil when the stored bytes are the database itself.
    public let plainSize: Int64?
    public let plainSHA256: String?
    public let startedAt: Timestamp
    public let finishedAt: Timestamp?
    public let trigger: BackupTrigger
    public let state: BackupState
    public let error: String?
    /// Why the backup looks wrong (empty, much smaller than the last good one, older schema);
    /// nil for a backup that looked right. See `SuspectCheck`.
    public let suspect: String?
    /// When a person confirmed a suspect backup as right (`dbbackup confirm`).
    public let confirmedAt: Timestamp?
    /// The bytes of the database's pages in use (page size × pages not on the free list):
    /// what it holds, where its file size also counts the pages of deleted rows. Nil for
    /// backups recorded before dbbackup kept it, and those found by `registry rebuild`.
    public let dataSize: Int64?
    /// Why the last delete of a failed upload's key failed, while it is still watched as a
    /// leftover (`leftovers(of:)`); nil once a delete succeeded.
    public let cleanupError: String?
    /// The boot clock when the backup was stored (with `finishedAt`, the wall clock then); nil
    /// for backups recorded before dbbackup kept it.
    public let storedBoot: BootInstant?

    /// The backup's time: when its snapshot was taken (also the time in its file name).
    public var createdAt: Timestamp { startedAt }

    /// A suspect backup nobody has confirmed yet: it never pushes a good backup out of
    /// retention, and never becomes the baseline later backups are judged by.
    public var isUnconfirmedSuspect: Bool { suspect != nil && confirmedAt == nil }
}

/// A backup about to be recorded.
public struct NewBackup: Sendable {
    public var registration: String
    public var provider: String
    public var location: BackupLocation
    public var version: String
    public var size: Int64
    public var sha256: String
    public var plainSize: Int64?
    public var plainSHA256: String?
    public var startedAt: Timestamp
    public var trigger: BackupTrigger
    public var suspect: String?
    /// The database file the backup was taken of (resolved path).
    public var database: String?
    /// See `BackupRecord.dataSize`.
    public var dataSize: Int64?

    public init(
        registration: String, provider: String, location: BackupLocation, version: String, size: Int64,
        sha256: String, plainSize: Int64? = nil, plainSHA256: String? = nil, startedAt: Timestamp,
        trigger: BackupTrigger, suspect: String? = nil, database: String? = nil, dataSize: Int64? = nil
    ) {
        self.registration = registration
        self.provider = provider
        self.location = location
        self.version = version
        self.size = size
        self.sha256 = sha256
        self.plainSize = plainSize
        self.plainSHA256 = plainSHA256
        self.startedAt = startedAt
        self.trigger = trigger
        self.suspect = suspect
        self.database = database
        self.dataSize = dataSize
    }
}

import SystemCalls

/// The main file: which database to protect, how its version is read, and retention.
public struct MainConfig: Sendable, Equatable {
    public var database: DatabaseSettings
    public var retention: Retention
    /// A command run (argv, no shell) when a backup unit fails: `[notify] on_failure`.
    public var onFailure: [String]
    /// How uploads to S3 behave: `[s3]`.
    public var s3: S3Transfer
    /// `status --check` and heartbeats: `[monitoring]` (see `MonitorSettings`).
    public var monitoring = MonitorSettings()

    public init(
        database: DatabaseSettings, retention: Retention = Retention(), onFailure: [String] = [],
        s3: S3Transfer = S3Transfer()
    ) {
        self.database = database
        self.retention = retention
        self.onFailure = onFailure
        self.s3 = s3
    }
}

/// Upload behaviour for every s3 registration. The defaults suit most stores.
public struct S3Transfer: Sendable, Equatable {
    /// Files larger than this go as a multipart upload; a plain backup above it goes up while
    /// its snapshot is copied and verified. Default 128 MiB: a smaller file is copied in well
    /// under a second, so sending its parts during the copy would save little, and a single PUT
    /// of the verified file is one request that leaves nothing to clean up if it is cut short.
    public static let defaultMultipartThresholdMiB = 128
    public var multipartThresholdMiB = S3Transfer.defaultMultipartThresholdMiB
    /// 16 MiB: against 64, a 1.3 GiB backup to moto took 15-17 s instead of 21 (8 MiB, awscli's
    /// size, was no faster); more parts also start going up earlier in the copy.
    public var partSizeMiB = 16
    /// Parts of a multipart upload sent at once.
    public var concurrentParts = 4
    /// Attempts per request (1 = no retries) and the time within which retries may start.
    public var maxAttempts = 6
    public var retrySeconds = 600
    public var connectTimeoutSeconds = 10
    /// A transfer slower than 1 KiB/s for this long is aborted (and retried).
    public var stallSeconds = 60
    /// A PEM bundle to trust instead of the system's CAs (self-hosted stores).
    public var caBundle: String?

    public init() {}

    /// (TOML key, value, allowed range) of the numeric settings, for reading and writing.
    var numbers: [(key: String, value: Int, range: ClosedRange<Int>)] {
        [
            ("multipart_threshold_mib", multipartThresholdMiB, 5...5120), ("part_size_mib", partSizeMiB, 5...5120),
            ("concurrent_parts", concurrentParts, 1...16), ("max_attempts", maxAttempts, 1...20),
            ("retry_seconds", retrySeconds, 1...86_400),
            ("connect_timeout", connectTimeoutSeconds, 1...600), ("stall_seconds", stallSeconds, 5...3600),
        ]
    }

    mutating func set(_ key: String, _ value: Int) {
        switch key {
        case "multipart_threshold_mib": multipartThresholdMiB = value
        case "part_size_mib": partSizeMiB = value
        case "concurrent_parts": concurrentParts = value
        case "max_attempts": maxAttempts = value
        case "retry_seconds": retrySeconds = value
        case "connect_timeout": connectTimeoutSeconds = value
        case "stall_seconds": stallSeconds = value
        default: break
        }
    }
}

public struct DatabaseSettings: Sendable, Equatable {
    /// As written; relative paths are taken from the configuration directory.
    public var path: String
    public var resolvedPath: String
    /// A query returning one value; nil means `PRAGMA user_version`.
    public var versionQuery: String?
    /// How long a snapshot waits for a writer's lock, and a run for another run of the same
    /// database, in seconds.
    public var busyTimeoutSeconds: Int
    public var lockTimeoutSeconds: Int
    /// While the application is writing, a directory backup goes to disk at most this many
    /// MiB per second, so the application's commits keep most of the disk; 0 never paces.
    public var paceMiBPerSecond: Int

    public static let defaultBusyTimeout = 30
    public static let defaultLockTimeout = 600
    public static let defaultPace = 128

    public init(
        path: String, configDirectory: String, versionQuery: String? = nil,
        busyTimeoutSeconds: Int = defaultBusyTimeout, lockTimeoutSeconds: Int = defaultLockTimeout,
        paceMiBPerSecond: Int = defaultPace
    ) {
        self.path = path
        self.resolvedPath = FileSystem.absolute(path, relativeTo: configDirectory)
        self.versionQuery = versionQuery
        self.busyTimeoutSeconds = busyTimeoutSeconds
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.paceMiBPerSecond = paceMiBPerSecond
    }

    /// The pace in bytes per second, nil when pacing is off.
    public var paceBytesPerSecond: Int64? { paceMiBPerSecond > 0 ? Int64(paceMiBPerSecond) << 20 : nil }
}

/// How many backups each registration keeps. 0 means no automatic cleanup.
public struct Retention: Sendable, Equatable {
    public static let maxLocal = 15
    public static let defaultLocal = 7
    public static let defaultRemote: RemoteLimit = .count(14)

    public enum RemoteLimit: Sendable, Equatable, CustomStringConvertible {
        case count(Int)
        case unlimited

        /// The number of backups to keep, or nil for no cleanup.
        public var keep: Int? {
            switch self {
            case .count(0), .unlimited: nil
            case .count(let count): count
            }
        }

        public var description: String {
            switch self {
            case .count(let count): String(count)
            case .unlimited: "unlimited"
            }
        }

        public static func parse(_ text: String) -> RemoteLimit? {
            if text == "unlimited" { return .unlimited }
            guard let count = Int(text), count >= 0 else { return nil }
            return .count(count)
        }
    }

    public var local: Int
    public var remote: RemoteLimit

    public init(local: Int = defaultLocal, remote: RemoteLimit = defaultRemote) {
        self.local = local
        self.remote = remote
    }

    /// The limit for one provider; nil means keep everything.
    public func keep(for provider: Registration.Provider) -> Int? {
        switch provider {
        case .filesystem: local == 0 ? nil : local
        case .s3: remote.keep
        }
    }
}

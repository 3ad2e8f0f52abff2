import Hashing

/// Where a registration's backups go: the seam between a run and a storage type. The runner
/// snapshots into `stagingPath`, asks the store to `place` the verified file under a final
/// name, and retention and clean-up `delete`. A new storage type implements this and passes
/// the store conformance tests (Tests/S3ClientTests/StoreConformanceTests.swift).
///
/// The contract of each method:
protocol BackupStore {
    /// "filesystem" or "s3": the registry's `provider`.
    var provider: String { get }

    /// Prepares the destination (e.g. creates the directory) and checks it is usable.
    /// Throws a `RunFailure` that says what is wrong and what to do.
    func prepare() throws(RunFailure)

    /// A staging path that is not a final backup name, unique to this run, where the snapshot
    /// is written. It may be inside the store (a directory) or not (S3: the state directory).
    func stagingPath(registration: String, startedAt: Timestamp) -> String

    /// The full location a backup named `name` would have in this store as configured now
    /// (for S3 with the endpoint, region and addressing, so that retention later deletes
    /// exactly there, whatever the registration says by then).
    func location(forFileName name: String) -> BackupLocation

    /// Whether `place` wants the staging file's MD5 too (computed with its SHA-256).
    var needsMD5: Bool { get }

    /// Whether the staging file becomes the backup itself, so the snapshot writes it to disk.
    var keepsStagingFile: Bool { get }

    /// Places the verified staging file at `location`, with `attributes` recorded beside it
    /// where the store can (extended attributes, object metadata) for `registry rebuild`.
    ///
    /// "Stored" means: the complete bytes are under that name and durable (a directory:
    /// fsynced file and directory; S3: the store accepted the upload with its payload SHA-256,
    /// and its Content-MD5 or its parts' CRC-32). Never a partial file under a final name.
    /// Returns false, leaving the staging file and storing nothing, when the name is already
    /// taken in the store, so the runner tries the next name. A store that cannot see that
    /// without permissions backups must not need (S3 without s3:GetObject) relies on the
    /// registry's claim of the name and always places. Throws `RunFailure` when it could
    /// not store; it then leaves nothing under the name it can remove (S3: one brief DELETE).
    /// Retries are the store's own business (S3 retries transient errors within its policy).
    func place(
        staging: String, digests: FileDigests, at location: BackupLocation, attributes: BackupAttributes,
        progress: @escaping (Int64, Int64) -> Void
    ) throws(RunFailure) -> Bool

    /// Deletes the backup at `location`, where it was stored even if the registration has
    /// moved since. A backup that is already gone counts as deleted (a retried delete must
    /// succeed). Throws when it could not delete, or cannot reach that location (another
    /// endpoint); the caller keeps the registry row and retries on the next run.
    func delete(_ location: BackupLocation) throws

    /// Removes staging files that crashed runs left behind (never a live run's).
    func removeStagingLeftovers()

    /// Whether a plain backup of `size` bytes starts going to the store while its snapshot is
    /// still being copied and verified (`startPlacing`), rather than once it is finished
    /// (`place`). Stores that only place finished files need not implement it (false).
    func placesWhileCopying(size: Int64) -> Bool

    /// Starts placing a plain backup of `size` bytes at `location` while the snapshot is still
    /// being copied into `staging`: its parts go to the store as they are hashed, and nothing
    /// is stored under the name before `PlacementInProgress.finish`. Called only when
    /// `placesWhileCopying(size:)` said so, before the first byte is copied; it must not wait
    /// for the store (the application may be waiting for the copy). `attributes.sha256` is
    /// not known yet (empty). `partStored` runs after each part the store accepted.
    func startPlacing(
        at location: BackupLocation, size: Int64, staging: String, attributes: BackupAttributes,
        partStored: @escaping @Sendable () -> Void,
        progress: @escaping @Sendable (Int64, Int64) -> Void
    ) throws(RunFailure) -> any PlacementInProgress
}

extension BackupStore {
    func placesWhileCopying(size: Int64) -> Bool { false }

    func startPlacing(
        at location: BackupLocation, size: Int64, staging: String, attributes: BackupAttributes,
        partStored: @escaping @Sendable () -> Void,
        progress: @escaping @Sendable (Int64, Int64) -> Void
    ) throws(RunFailure) -> any PlacementInProgress {
        throw RunFailure(
            .store, registration: attributes.registration, "\(provider) stores place finished backups only")
    }
}

/// A backup being placed while its snapshot is copied (see `BackupStore.startPlacing`). It ends
/// with exactly one of `finish` (the snapshot was verified) or `discard`.
protocol PlacementInProgress: Sendable {
    /// The snapshot is hashed in parts of this size (`partReady`).
    var partSize: Int64 { get }

    /// A part of the snapshot is final and hashed: it may go to the store.
    func partReady(_ part: Snapshot.Part)

    /// The snapshot is verified and `digests` are its own: stores it under its name, having
    /// run `beforeCommit` just before the step that makes it visible there. "Stored" as for
    /// `place`. Throws when it could not store; it then leaves nothing it can remove.
    func finish(digests: FileDigests, beforeCommit: () -> Void) throws(RunFailure)

    /// Stops and leaves nothing in the store (the snapshot failed, or was not verified).
    /// Returns what may be left, and why, or nil.
    func discard() -> String?
}

/// What is recorded beside a backup in the store itself, so that `registry rebuild` can
/// recover the registry from the store alone.
public struct BackupAttributes: Sendable, Equatable {
    public var registration: String
    public var trigger: BackupTrigger
    public var version: String
    public var createdAt: Timestamp
    /// Of the stored bytes.
    public var sha256: String
    /// Of the plain database, when the stored bytes are its compressed or encrypted form.
    public var plainSHA256: String?

    public init(
        registration: String, trigger: BackupTrigger, version: String, createdAt: Timestamp, sha256: String,
        plainSHA256: String? = nil
    ) {
        self.registration = registration
        self.trigger = trigger
        self.version = version
        self.createdAt = createdAt
        self.sha256 = sha256
        self.plainSHA256 = plainSHA256
    }

    /// As key-value pairs: extended attributes `user.dbbackup.KEY`, object metadata
    /// `x-amz-meta-dbbackup-KEY`.
    public var pairs: [(key: String, value: String)] {
        [
            ("registration", registration), ("trigger", trigger.rawValue), ("version", version),
            ("created-at", createdAt.rfc3339), ("sha256", sha256),
        ] + (plainSHA256.map { [("plain-sha256", $0)] } ?? [])
    }

    /// S3 object metadata (`x-amz-meta-dbbackup-KEY`).
    public var objectMetadata: [String: String] {
        Dictionary(uniqueKeysWithValues: pairs.map { ("dbbackup-\($0.key)", $0.value) })
    }

    /// What a store recorded beside an object or file, read back (`registry rebuild`,
    /// `restore` without a registry); nil fields were not recorded.
    public static func recorded(
        in metadata: [String: String]
    ) -> (registration: String?, trigger: BackupTrigger?, sha256: String?, plainSHA256: String?) {
        (
            metadata["dbbackup-registration"], metadata["dbbackup-trigger"].flatMap(BackupTrigger.init(rawValue:)),
            metadata["dbbackup-sha256"],
            metadata["dbbackup-plain-sha256"]
        )
    }
}

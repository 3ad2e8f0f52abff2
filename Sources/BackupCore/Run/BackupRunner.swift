import FoundationEssentials
import Glibc
import Logging

/// What a run reports as it goes: the CLI shows a progress line on a terminal, systemd gets
/// `STATUS=` lines. Both are optional.
public struct RunObserver: Sendable {
    public var step: @Sendable (_ registration: String, _ text: String) -> Void
    public var progress: @Sendable (_ registration: String, _ text: String, _ fraction: Double) -> Void

    public init(step: @escaping @Sendable (String, String) -> Void = { _, _ in },
                progress: @escaping @Sendable (String, String, Double) -> Void = { _, _, _ in }) {
        self.step = step
        self.progress = progress
    }
}

/// The result of one registration's run.
public struct RunReport: Sendable {
    public let registration: String
    public let backup: BackupRecord
    public let pruned: [BackupRecord]
    public let durationMilliseconds: Int64
    /// How the snapshot was copied (the file itself, or SQLite's online backup).
    public let snapshotMethod: Snapshot.Method
    /// Set when the backup was stored and recorded but retention could not delete every old
    /// backup (kind `.cleanup`; retried by the next run).
    public let cleanupFailure: RunFailure?
}

/// Performs one backup run, in the order SPEC "A backup run" gives: snapshot into staging
/// and verify, place, record, prune. Never prunes after a failure.
public struct BackupRunner {
    public let locations: Locations
    public let config: MainConfig
    public let logger: Logger
    public let observer: RunObserver

    public init(locations: Locations, config: MainConfig, logger: Logger, observer: RunObserver = RunObserver()) {
        self.locations = locations
        self.config = config
        self.logger = logger
        self.observer = observer
    }

    func store(for registration: Registration) throws(RunFailure) -> any BackupStore {
        switch registration.provider {
        case .filesystem(let target):
            return DirectoryStore(registration: registration.name, directory: target.resolvedPath)
        case .s3(let target):
            guard let secret = SecretStore(locations: locations).secretForRun(registration.name) else {
                throw RunFailure(.configuration, registration: registration.name,
                                 "no S3 secret key is stored (\(SecretStore(locations: locations).path(for: registration.name))); store it with: dbbackup registration edit \(registration.name) --secret-key-stdin")
            }
            return try S3Store(registration: registration.name, target: target, secret: secret, transfer: config.s3,
                               stagingDirectory: locations.stagingDirectory)
        }
    }

    public func run(_ registration: Registration, trigger: BackupTrigger) throws(RunFailure) -> RunReport {
        let name = registration.name
        let requested = Timestamp.now()
        let registry: Registry
        do {
            registry = try Registry(path: locations.registryPath)
        } catch {
            throw RunFailure(.store, registration: name, "\(error)")
        }
        let store = try store(for: registration)

        observer.step(name, "waiting for the database lock")
        let lock: DatabaseLock
        do {
            lock = try DatabaseLock(database: config.database.resolvedPath, locksDirectory: locations.locksDirectory,
                                    holder: "registration \(name)", timeoutSeconds: config.database.lockTimeoutSeconds)
        } catch let timeout as DatabaseLock.Timeout {
            recordFailure(registry, registration, requested, trigger, timeout.description)
            throw RunFailure(.busy, registration: name, timeout.description)
        } catch {
            throw RunFailure(.store, registration: name, "cannot take the run lock: \(error)")
        }
        defer { withExtendedLifetime(lock) {} }
        // The backup's time (and its file name's) is when its snapshot starts, after the lock.
        let started = Timestamp.now()

        let maintenance = Maintenance(registry: registry, logger: logger)
        maintenance.settlePending(of: name, store: store)

        let record: BackupRecord
        let method: Snapshot.Method
        do {
            (record, method) = try takeAndStore(registration, store: store, registry: registry, started: started, trigger: trigger)
        } catch {
            recordFailure(registry, registration, started, trigger, error.message)
            throw error
        }
        let (pruned, cleanupFailure) = prune(registration, store: store, registry: registry, maintenance: maintenance)
        return RunReport(registration: name, backup: record, pruned: pruned, durationMilliseconds: started.milliseconds(until: .now()),
                         snapshotMethod: method, cleanupFailure: cleanupFailure)
    }

    private func recordFailure(_ registry: Registry, _ registration: Registration, _ started: Timestamp, _ trigger: BackupTrigger, _ message: String) {
        do {
            try registry.recordFailure(registration: registration.name, provider: registration.provider.kind,
                                       startedAt: started, trigger: trigger, error: message)
        } catch {
            logger.error("could not record the failure in the registry: \(error)")
        }
    }

    private func takeAndStore(_ registration: Registration, store: any BackupStore, registry: Registry,
                              started: Timestamp, trigger: BackupTrigger) throws(RunFailure) -> (BackupRecord, Snapshot.Method) {
        let name = registration.name
        try store.prepare()
        store.removeStagingLeftovers()
        let staging = store.stagingPath(registration: name, startedAt: started)
        defer { Self.removeStaging(staging) }

        observer.step(name, "snapshot of \(config.database.resolvedPath)")
        let snapshot: Snapshot.Result
        do {
            snapshot = try Snapshot.take(
                database: config.database.resolvedPath, to: staging, versionQuery: config.database.versionQuery,
                busyTimeoutMilliseconds: Int32(config.database.busyTimeoutSeconds * 1000), md5: store.needsMD5,
                durable: store.keepsStagingFile, pace: config.database.paceBytesPerSecond
            ) { copied, total in
                if total > 0 { observer.progress(name, "snapshot", Double(copied) / Double(total)) }
            }
        } catch {
            throw RunFailure(error.code == .noSpace ? .store : error.code == .permission ? .permission : .snapshot, registration: name, error.message)
        }
        CrashPoint.afterSnapshot.reached()
        let (sha256, size) = (snapshot.sha256, snapshot.size)

        let baseName = BackupNaming.baseName(version: snapshot.version, at: started)
        var id: Int64?
        do {
            for attempt in 1... {
                let location = store.location(forFileName: BackupNaming.fileName(base: baseName, attempt: attempt))
                if try registry.isClaimed(location) { continue }
                if let id {
                    try registry.updateLocation(id, location)
                } else {
                    id = try registry.beginBackup(.init(registration: name, provider: store.provider, location: location,
                                                        version: snapshot.version, size: size, sha256: sha256,
                                                        startedAt: started, trigger: trigger))
                }
                CrashPoint.afterRecord.reached()
                observer.step(name, "storing \(location)")
                let placed = try store.place(staging: staging, digests: snapshot.digests, at: location) { sent, total in
                    if total > 0 { observer.progress(name, "storing", Double(sent) / Double(total)) }
                }
                if placed {
                    CrashPoint.afterPlace.reached()
                    break
                }
                if attempt >= 1000 { throw RunFailure(.store, registration: name, "no free file name for \(baseName)") }
            }
            guard let id else { throw RunFailure(.store, registration: name, "no backup was recorded") }
            try registry.markStored(id)
            CrashPoint.afterStored.reached()
            guard let record = try registry.backup(id: id) else { throw RunFailure(.store, registration: name, "the registry lost backup \(id)") }
            // The run's one journal entry reports it (the CLI writes it from the report).
            logger.debug("stored \(record.location?.description ?? "?")", metadata: ["registration": "\(name)", "snapshot": "\(snapshot.method.rawValue)"])
            return (record, snapshot.method)
        } catch {
            let failure = (error as? RunFailure) ?? RunFailure(.store, registration: name, "recording the backup failed: \(error)")
            if let id { try? registry.markFailed(id, error: failure.message) }
            throw failure
        }
    }

    static func removeStaging(_ staging: String) {
        for suffix in [""] + SQLiteSideFiles.suffixes { try? FileSystem.unlinkIfPresent(staging + suffix) }
    }

    /// Deletes this registration's backups beyond its limit, oldest first, and retries deletes
    /// that failed before. Returns what it deleted, and why it could not delete the rest: a
    /// failed delete keeps its registry row and makes the run's outcome loud (exit status 74).
    private func prune(_ registration: Registration, store: any BackupStore, registry: Registry,
                       maintenance: Maintenance) -> (deleted: [BackupRecord], failure: RunFailure?) {
        let name = registration.name
        do {
            var chosen = try registry.backups(in: .pruning, registration: name).filter { $0.provider == store.provider }
            if let keep = config.retention.keep(for: registration.provider) {
                let stored = try registry.storedBackups(registration: name).filter { $0.provider == store.provider }
                chosen += stored.dropLast(keep)
            }
            if !chosen.isEmpty { observer.step(name, "retention: deleting \(chosen.count) old backup(s)") }
            let result = maintenance.delete(chosen, store: store)
            guard result.failures.isEmpty else {
                return (result.deleted, RunFailure(.cleanup, registration: name,
                                                   "the backup was stored, but retention could not delete: " + result.failures.joined(separator: "; ")
                                                   + "; it will be retried on the next run"))
            }
            return (result.deleted, nil)
        } catch {
            return ([], RunFailure(.cleanup, registration: name, "the backup was stored, but retention failed: \(error)"))
        }
    }
}

/// Naming: `db_v{version}_{UTC yyyyMMdd'T'HHmmss'Z'}.db`, with `_2`, `_3`… when a name is taken.
public enum BackupNaming {
    public static func baseName(version: String, at time: Timestamp) -> String { "db_v\(version)_\(time.compact)" }

    public static func fileName(base: String, attempt: Int) -> String {
        attempt == 1 ? "\(base).db" : "\(base)_\(attempt).db"
    }
}

import FoundationEssentials
import Glibc
import Hashing
import Logging
import Synchronization
import SystemCalls
import Threads

/// What a run reports as it goes: the CLI shows a progress line on a terminal, systemd gets
/// `STATUS=` lines. Both are optional.
public struct RunObserver: Sendable {
    public var step: @Sendable (_ registration: String, _ text: String) -> Void
    public var progress: @Sendable (_ registration: String, _ text: String, _ fraction: Double) -> Void

    public init(
        step: @escaping @Sendable (String, String) -> Void = { _, _ in },
        progress: @escaping @Sendable (String, String, Double) -> Void = { _, _, _ in }
    ) {
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
    /// Set when the backup was stored and recorded but retention, or the clean-up of what an
    /// earlier run left, could not delete everything (kind `.cleanup`; retried by the next run).
    public let cleanupFailure: RunFailure?
    /// Set when the backup was stored and recorded but looks wrong (kind `.suspect`).
    public let suspect: RunFailure?
    /// Things a person should know that did not stop the run (e.g. a registry found damaged).
    public let warnings: [String]

    /// The exit status this run ends with: a suspect outranks a clean-up failure.
    public var status: ExitStatus { (suspect ?? cleanupFailure)?.kind.status ?? .ok }
}

/// Performs one backup run, in the order docs/contract.md §2 "A run, in order" gives: snapshot into staging
/// and verify, record, place, prune. Never prunes after a failure.
///
/// Locks: the registration's lock for the whole run (two runs of one registration never
/// settle or prune each other's work), the database's only for the snapshot (a slow upload
/// never holds up another registration's backup of the same database).
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
            return try S3Store.make(
                registration: registration.name, target: target, locations: locations, transfer: config.s3)
        }
    }

    private func lock(
        _ kind: String, registration name: String, registry: BackupRegistry, requested: Timestamp,
        trigger: BackupTrigger,
        provider: String, _ take: () throws -> RunLock
    ) throws(RunFailure) -> RunLock {
        observer.step(name, "waiting for the \(kind) lock")
        do {
            return try take()
        } catch let timeout as RunLock.Timeout {
            recordFailure(registry, name, provider, requested, trigger, timeout.description)
            throw RunFailure(.busy, registration: name, timeout.description)
        } catch {
            throw RunFailure(.store, registration: name, "cannot take the \(kind) lock: \(error)")
        }
    }

    public func run(_ registration: Registration, trigger: BackupTrigger) throws(RunFailure) -> RunReport {
        let name = registration.name
        let requested = Timestamp.now()
        let registry: BackupRegistry
        do {
            registry = try BackupRegistry(path: locations.registryPath)
        } catch {
            throw RunFailure(.store, registration: name, "\(error)")
        }
        var warnings: [String] = []
        if let warning = registry.recovery?.warning { warnings.append(warning) }
        let store = try store(for: registration)
        let provider = store.provider
        let timeout = config.database.lockTimeoutSeconds
        let registrationLock = try lock(
            "registration", registration: name, registry: registry, requested: requested, trigger: trigger,
            provider: provider
        ) {
            try RunLock.registration(
                name, locksDirectory: locations.locksDirectory, holder: "registration \(name)", timeoutSeconds: timeout)
        }
        defer { registrationLock.release() }

        let maintenance = Maintenance(registry: registry, logger: logger)
        var cleanupFailures = maintenance.settlePending(of: name, store: store)
        if registry.recovery != nil, case .filesystem(let target) = registration.provider {
            let untracked = UntrackedBackups.files(in: target.resolvedPath, registry: registry)
            if !untracked.isEmpty {
                warnings.append(
                    """
                    \(target.resolvedPath) holds \(untracked.count) backup file(s) the registry does not know (it \
                    is new); to let list, restore and retention see them, run: dbbackup registry rebuild \
                    --registration \(name)
                    """
                )
            }
        }

        let databaseLock = try lock(
            "database", registration: name, registry: registry, requested: requested, trigger: trigger,
            provider: provider
        ) {
            try RunLock.database(
                config.database.resolvedPath, locksDirectory: locations.locksDirectory,
                holder: "registration \(name)", timeoutSeconds: timeout)
        }
        // The backup's time (and its file name's) is when its snapshot starts, after the lock.
        let started = Timestamp.now()
        defer { databaseLock.release() }  // already released when the snapshot succeeded
        let stored: (record: BackupRecord, method: Snapshot.Method)
        var recorded = false
        do {
            stored = try takeAndStore(
                registration, store: store, registry: registry, started: started, trigger: trigger,
                databaseLock: databaseLock, failureRecorded: &recorded)
        } catch {
            if !recorded { recordFailure(registry, name, provider, started, trigger, error.message) }
            throw error
        }
        cleanupFailures += maintenance.removeLeftovers(of: name, store: store)
        let (pruned, pruneFailures) = prune(registration, store: store, registry: registry, maintenance: maintenance)
        cleanupFailures += pruneFailures
        let cleanupFailure =
            cleanupFailures.isEmpty
            ? nil
            : RunFailure(
                .cleanup, registration: name,
                "the backup was stored, but clean-up could not delete: " + cleanupFailures.joined(separator: "; ")
                    + "; it will be retried on the next run")
        let suspect =
            stored.record.isUnconfirmedSuspect
            ? RunFailure(
                .suspect, registration: name,
                """
                the backup \(stored.record.location?.description ?? "") (id \(stored.record.id)) was stored, but \
                it looks wrong: \(stored.record.suspect ?? "").
                """
                    + """
                     It does not count against the good backups in retention. If the database really is meant to \
                    be like this, confirm it with: dbbackup confirm \(stored.record.id)
                    """
            ) : nil
        return RunReport(
            registration: name, backup: stored.record, pruned: pruned,
            durationMilliseconds: started.milliseconds(until: .now()),
            snapshotMethod: stored.method, cleanupFailure: cleanupFailure, suspect: suspect, warnings: warnings)
    }

    private func recordFailure(
        _ registry: BackupRegistry, _ name: String, _ provider: String, _ started: Timestamp, _ trigger: BackupTrigger,
        _ message: String
    ) {
        do {
            try registry.recordFailure(
                registration: name, provider: provider, startedAt: started, trigger: trigger, error: message)
        } catch {
            logger.error("could not record the failure in the registry: \(error)")
        }
    }

    /// Snapshot (under `databaseLock`, released as soon as the copy is verified), suspect
    /// check, record, place, mark stored.
    ///
    /// A plain backup that the store places while it is copied (S3, above the multipart
    /// threshold) is recorded as pending before the first byte is copied, under the name of the
    /// schema version read inside the snapshot's transaction, and its parts go up as they are
    /// hashed; it is committed only once the copy is verified, and discarded (nothing left in
    /// the store) when it is not.
    private func takeAndStore(
        _ registration: Registration, store: any BackupStore, registry: BackupRegistry,
        started: Timestamp, trigger: BackupTrigger, databaseLock: RunLock,
        failureRecorded: inout Bool
    ) throws(RunFailure) -> (BackupRecord, Snapshot.Method) {
        let name = registration.name
        try store.prepare()
        store.removeStagingLeftovers()
        let staging = store.stagingPath(registration: name, startedAt: started)
        // Removed at the end, or on a thread of its own as soon as nothing reads it (below).
        var removal: JoinableThread<Void>?
        defer {
            _ = removal?.join()
            Self.removeStaging(staging)
        }

        let form = registration.encoding.storedForm
        let encoded = !form.layers.isEmpty
        let baseline: BackupRecord?
        let anyDatabase: BackupRecord?
        do {
            baseline = try registry.lastGood(of: name, database: config.database.resolvedPath)
            anyDatabase = baseline == nil ? try registry.lastGood(of: name, database: nil) : nil
        } catch {
            throw RunFailure(.store, registration: name, "\(error)")
        }
        let nameFor = { (version: String, attempt: Int) in
            store.location(
                forFileName: BackupNaming.fileName(
                    base: BackupNaming.baseName(version: version, at: started), attempt: attempt, suffix: form.suffix))
        }
        // Set once a placement while copying has started (see the function's comment).
        var early: EarlyPlacement?
        let uploading = Flag()
        let observer = observer
        let beforeCopy = { (plan: Snapshot.Plan) throws -> Snapshot.PartDigests? in
            guard !encoded, store.placesWhileCopying(size: plan.size) else { return nil }
            let suspect = SuspectCheck.reason(
                size: plan.size, version: plan.version, baseline: baseline, anyDatabase: anyDatabase)
            let (id, attempt, location) = try registry.claim(
                NewBackup(
                    registration: name, provider: store.provider, location: nameFor(plan.version, 1),
                    version: plan.version,
                    size: plan.size, sha256: "", startedAt: started, trigger: trigger, suspect: suspect,
                    database: config.database.resolvedPath),
                location: { nameFor(plan.version, $0) })
            early = EarlyPlacement(id: id, attempt: attempt, location: location, plan: plan)
            let attributes = BackupAttributes(
                registration: name, trigger: trigger, version: plan.version, createdAt: started, sha256: "")
            let first = Flag()
            let placement = try store.startPlacing(
                at: location, size: plan.size, staging: staging, attributes: attributes,
                partStored: {
                    if first.set() { CrashPoint.afterFirstPart.reached() }
                },
                progress: { sent, total in
                    // The snapshot's own progress is shown until it is done.
                    if uploading.isSet, total > 0 { observer.progress(name, "storing", Double(sent) / Double(total)) }
                })
            early?.placement = placement
            CrashPoint.afterEarlyRecord.reached()
            return Snapshot.PartDigests(partSize: placement.partSize) { placement.partReady($0) }
        }

        observer.step(name, "snapshot of \(config.database.resolvedPath)")
        let snapshot: Snapshot.Result
        do {
            // A plain copy that is only compressed or encrypted, then deleted, need not reach the disk.
            snapshot = try Snapshot.take(
                database: config.database.resolvedPath, to: staging, versionQuery: config.database.versionQuery,
                busyTimeoutMilliseconds: Int32(config.database.busyTimeoutSeconds * 1000),
                md5: store.needsMD5 && !encoded,
                durable: store.keepsStagingFile && !encoded, pace: config.database.paceBytesPerSecond,
                progress: { copied, total in
                    if total > 0 { observer.progress(name, "snapshot", Double(copied) / Double(total)) }
                },
                beforeCopy: encoded || !store.placesWhileCopying(size: Int64.max) ? nil : beforeCopy)
        } catch {
            let failure: RunFailure
            if error.code == .declined {
                failure =
                    (error.cause as? RunFailure)
                    ?? RunFailure(
                        .store, registration: name,
                        "recording the backup failed: \(error.cause.map { "\($0)" } ?? error.message)")
            } else {
                failure = RunFailure(
                    error.code == .noSpace ? .store : error.code == .permission ? .permission : .snapshot,
                    registration: name, error.message)
            }
            if let early { failureRecorded = abandon(early, registry: registry, failure: failure) }
            throw failure
        }
        databaseLock.release()
        uploading.set()
        CrashPoint.afterSnapshot.reached()

        let suspect = SuspectCheck.reason(
            size: snapshot.size, dataSize: snapshot.dataSize, version: snapshot.version, baseline: baseline,
            anyDatabase: anyDatabase)
        // The stored form: the verified snapshot itself, or its compressed and/or encrypted
        // form beside it (the plain copy is deleted as soon as that exists).
        let (stored, storedDigests) = try encode(
            staging, as: form, registration: name, snapshot: snapshot, md5: store.needsMD5)
        defer { if stored != staging { Self.removeStaging(stored) } }
        let plain: (size: Int64, sha256: String)? = encoded ? (snapshot.size, snapshot.sha256) : nil
        let attributes = BackupAttributes(
            registration: name, trigger: trigger, version: snapshot.version, createdAt: started,
            sha256: storedDigests.sha256.hexString, plainSHA256: plain?.sha256)
        var id = early?.id
        // The placement that started with the copy, while it has neither finished nor been discarded.
        var placing = early?.placement
        do {
            var (claimedID, attempt, location): (Int64, Int, BackupLocation)
            if let early {
                (claimedID, attempt, location) = (early.id, early.attempt, early.location)
                try registry.recordVerified(
                    claimedID, size: storedDigests.size, sha256: storedDigests.sha256.hexString, suspect: suspect,
                    dataSize: snapshot.dataSize)
                if snapshot.size != early.plan.size, let placement = placing {
                    // Not the size its parts were cut for (never seen): send the finished file instead.
                    placing = nil
                    if let left = placement.discard() {
                        logger.warning("\(left)", metadata: ["registration": "\(name)"])
                    }
                }
            } else {
                (claimedID, attempt, location) = try registry.claim(
                    NewBackup(
                        registration: name, provider: store.provider, location: nameFor(snapshot.version, 1),
                        version: snapshot.version,
                        size: storedDigests.size, sha256: storedDigests.sha256.hexString, plainSize: plain?.size,
                        plainSHA256: plain?.sha256,
                        startedAt: started, trigger: trigger, suspect: suspect, database: config.database.resolvedPath,
                        dataSize: snapshot.dataSize),
                    location: { nameFor(snapshot.version, $0) })
                id = claimedID
                CrashPoint.afterRecord.reached()
            }
            if let placement = placing {
                observer.step(name, "storing \(location)")
                placing = nil  // finish leaves nothing it can remove when it fails
                try placement.finish(digests: storedDigests) {
                    CrashPoint.beforeComplete.reached()
                    // Every part is up and the copy verified: nothing reads the staging file any
                    // more. Removed beside the request that commits the upload, its 1 GiB of
                    // pages is dropped, not written to disk while the store completes it (a
                    // store on this host, as in the benchmarks, then competes with that).
                    removal = JoinableThread { Self.removeStaging(staging) }
                }
            } else {
                while true {
                    observer.step(name, "storing \(location)")
                    let placed = try store.place(
                        staging: stored, digests: storedDigests, at: location, attributes: attributes
                    ) { sent, total in
                        if total > 0 { observer.progress(name, "storing", Double(sent) / Double(total)) }
                    }
                    if placed { break }
                    (attempt, location) = try registry.reclaim(
                        claimedID, after: attempt, location: { nameFor(snapshot.version, $0) })
                }
            }
            CrashPoint.afterPlace.reached()
            try registry.markStored(claimedID)
            CrashPoint.afterStored.reached()
            guard let record = try registry.backup(id: claimedID) else {
                throw RunFailure(.store, registration: name, "the registry lost backup \(claimedID)")
            }
            // The run's one journal entry reports it (the CLI writes it from the report).
            logger.debug(
                "stored \(record.location?.description ?? "?")",
                metadata: ["registration": "\(name)", "snapshot": "\(snapshot.method.rawValue)"])
            return (record, snapshot.method)
        } catch {
            let failure =
                (error as? RunFailure)
                ?? RunFailure(.store, registration: name, "recording the backup failed: \(error)")
            if let placement = placing, let left = placement.discard() {
                logger.warning("\(left)", metadata: ["registration": "\(name)"])
            }
            // An upload that failed may still have stored the object (or will: a late PUT).
            if let id {
                failureRecorded =
                    (try? registry.markFailed(
                        id, error: failure.message, leftover: store.provider == "s3" && !failure.nothingSent)) != nil
            }
            throw failure
        }
    }

    /// A backup claimed before its snapshot was copied, and the placement that started with it.
    private struct EarlyPlacement {
        let id: Int64
        let attempt: Int
        let location: BackupLocation
        let plan: Snapshot.Plan
        var placement: (any PlacementInProgress)?
    }

    /// The snapshot of a backup that was being placed while it was copied failed: discards the
    /// placement (nothing is left in the store) and records the failure on the claimed row, whose
    /// key later runs delete again (a late PUT). Returns whether the failure was recorded.
    private func abandon(_ early: EarlyPlacement, registry: BackupRegistry, failure: RunFailure) -> Bool {
        if let left = early.placement?.discard() {
            logger.warning("\(left)", metadata: ["registration": "\(registration(of: failure))"])
        }
        return (try? registry.markFailed(early.id, error: failure.message, leftover: true)) != nil
    }

    private func registration(of failure: RunFailure) -> String { failure.registration ?? "" }

    /// The stored form of the verified snapshot at `staging`: `staging` itself when the form is
    /// plain; otherwise the compressed and/or encrypted file written beside it, after which the
    /// plain copy is deleted. The encoder hashes what it reads, and that must be exactly what
    /// was verified: the stored form is then of the verified snapshot and nothing else.
    private func encode(
        _ staging: String, as form: StoredForm, registration name: String, snapshot: Snapshot.Result,
        md5: Bool
    ) throws(RunFailure) -> (path: String, digests: FileDigests) {
        guard !form.layers.isEmpty else { return (staging, snapshot.digests) }
        let path = staging + form.layers.map(\.suffix).joined()
        observer.step(name, form.layers.map { $0 == .zstd ? "compressing" : "encrypting" }.joined(separator: " and "))
        let (total, observer) = (snapshot.size, observer)
        let result: EncodeResult
        do {
            result = try BackupCodec.encode(plainFile: staging, as: form, toNewFile: path, md5: md5) { written in
                if total > 0 { observer.progress(name, "encoding", min(1, Double(written) / Double(total))) }
            }
        } catch {
            let noSpace = error.systemError?.isNoSpace ?? false
            throw RunFailure(
                .store, registration: name,
                noSpace ? "no space left for the \(form.suffix) form of the snapshot at \(path)" : "\(error)")
        }
        guard result.plainSHA256.map({ $0 == snapshot.digests.sha256 }) ?? false else {
            Self.removeStaging(path)
            throw RunFailure(
                .snapshot, registration: name,
                """
                the snapshot \(staging) changed between its verification and its \(form.suffix) form; nothing was \
                stored, run the backup again
                """
            )
        }
        Self.removeStaging(staging)
        return (path, result.stored)
    }

    static func removeStaging(_ staging: String) {
        for suffix in [""] + SQLiteSideFiles.suffixes { try? FileSystem.unlinkIfPresent(staging + suffix) }
    }

    /// Deletes this registration's backups beyond its limit, oldest first (in the order they
    /// were recorded), and retries deletes that failed before. Unconfirmed suspect backups are
    /// counted apart: they never push a good backup out. Returns what it deleted, and why it
    /// could not delete the rest: a failed delete keeps its registry row and makes the run's
    /// outcome loud (exit status 74).
    private func prune(
        _ registration: Registration, store: any BackupStore, registry: BackupRegistry,
        maintenance: Maintenance
    ) -> (deleted: [BackupRecord], failures: [String]) {
        let name = registration.name
        do {
            var chosen = try registry.backups(in: .pruning, registration: name).filter { $0.provider == store.provider }
            if let keep = config.retention.keep(for: registration.provider) {
                let stored = try registry.storedBackups(registration: name).filter { $0.provider == store.provider }
                chosen += stored.filter { !$0.isUnconfirmedSuspect }.dropLast(keep)
                chosen += stored.filter(\.isUnconfirmedSuspect).dropLast(keep)
            }
            if !chosen.isEmpty { observer.step(name, "retention: deleting \(chosen.count) old backup(s)") }
            let result = maintenance.delete(chosen, store: store)
            return (result.deleted, result.failures)
        } catch {
            return ([], ["retention failed: \(error)"])
        }
    }
}

/// A flag set once, read from any thread.
final class Flag: Sendable {
    private let value = Mutex(false)

    var isSet: Bool { value.withLock { $0 } }

    /// Sets it; true when it was not set before.
    @discardableResult
    func set() -> Bool {
        value.withLock { was in
            defer { was = true }
            return !was
        }
    }
}

/// Naming: `db_v{version}_{UTC yyyyMMdd'T'HHmmss'Z'}.db`, with `_002`, `_003`… when a name is
/// taken. The suffix has a fixed width, so names of one second sort as they were made
/// (`_010` after `_002`, where `_10` would sort before `_2`).
public enum BackupNaming {
    public static func baseName(version: String, at time: Timestamp) -> String { "db_v\(version)_\(time.compact)" }

    /// `suffix`: `.db`, or the stored form's (`.db.zst`, `.db.age`, `.db.zst.age`).
    public static func fileName(base: String, attempt: Int, suffix: String = ".db") -> String {
        guard attempt > 1 else { return "\(base)\(suffix)" }
        let digits = String(attempt)
        return "\(base)_\(String(repeating: "0", count: max(0, 3 - digits.count)))\(digits)\(suffix)"
    }

    /// What a backup's file name says: `db_v42_20261126T020000Z_002.db` (and the `.zst`/`.age`
    /// forms) gives version 42 and its time; nil for a name dbbackup would not give.
    public struct Parsed: Sendable, Equatable {
        public let version: String
        public let createdAt: Timestamp
        /// 1 for the plain name, 2 for `_002` (or an older `_2`)…
        public let attempt: Int
    }

    public static func parse(_ fileName: String) -> Parsed? {
        guard let match = fileName.wholeMatch(of: /db_v(.+)_(\d{8}T\d{6}Z)(?:_(\d{1,4}))?\.db(?:\.zst)?(?:\.age)?/),
            SchemaVersion.isValid(String(match.output.1)),
            let time = Timestamp(compact: String(match.output.2))
        else { return nil }
        return Parsed(
            version: String(match.output.1), createdAt: time, attempt: match.output.3.flatMap { Int($0) } ?? 1)
    }
}

/// Backup files in a directory that the registry does not know: after a registry was lost,
/// the backups it recorded are still there, and `registry rebuild` can bring them back.
public enum UntrackedBackups {
    public static func files(in directory: String, registry: BackupRegistry) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.sorted().filter { entry in
            BackupNaming.parse(entry) != nil
                && !((try? registry.isClaimed(.file(path: "\(directory)/\(entry)"))) ?? true)
        }
    }
}

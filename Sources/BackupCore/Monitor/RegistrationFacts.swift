/// What monitoring needs to know of one registration, from the registry: its last success,
/// its newest attempt, what is kept, what retention could not delete, what looks wrong.
/// Runs write these facts to the status file, so a monitoring user who may not read the
/// registry can still check them (see `MonitorFiles`).
public struct RegistrationFacts: Sendable, Equatable {
    public struct Success: Sendable, Equatable {
        public var id: Int64
        /// When its snapshot started (the backup's time).
        public var at: Timestamp
        public var size: Int64
        public var durationMilliseconds: Int64?
        /// The boot clock when it was stored (`at` plus the duration, on the wall clock): the
        /// two tell how far the wall clock was stepped since (see `clockShift(now:boot:)`).
        public var storedBoot: BootInstant?

        public init(
            id: Int64, at: Timestamp, size: Int64, durationMilliseconds: Int64?, storedBoot: BootInstant? = nil
        ) {
            self.id = id
            self.at = at
            self.size = size
            self.durationMilliseconds = durationMilliseconds
            self.storedBoot = storedBoot
        }

        /// How far the wall clock was stepped since this backup was stored, in milliseconds
        /// (negative: back): the time the wall clock says passed, less the time that passed
        /// on the boot clock. Nil when unknown: another boot, or a backup recorded without it.
        public func clockShift(now: Timestamp, boot: BootInstant?) -> Int64? {
            guard let durationMilliseconds, let storedBoot, let boot, let passed = storedBoot.milliseconds(until: boot)
            else { return nil }
            return at.milliseconds(until: now) - durationMilliseconds - passed
        }
    }

    public struct Attempt: Sendable, Equatable {
        public enum Outcome: String, Sendable { case stored, failed }
        public var at: Timestamp
        public var outcome: Outcome
        public var error: String?
        public var durationMilliseconds: Int64?

        public init(at: Timestamp, outcome: Outcome, error: String?, durationMilliseconds: Int64?) {
            self.at = at
            self.outcome = outcome
            self.error = error
            self.durationMilliseconds = durationMilliseconds
        }
    }

    public struct Suspect: Sendable, Equatable {
        public var id: Int64
        public var at: Timestamp
        public var reason: String
    }

    public var lastSuccess: Success?
    public var lastAttempt: Attempt?
    public var backupsKept = 0
    public var bytesKept: Int64 = 0
    /// Backups retention chose but could not delete yet (registry state `pruning`).
    public var cleanupPending = 0
    public var suspect: [Suspect] = []
    /// Backup files in a filesystem registration's directory that the registry does not know:
    /// the registry was lost or set aside as damaged, and retention, `list` and `restore
    /// latest` no longer see them until `registry rebuild`.
    public var untracked = 0
    /// Keys of failed uploads the last run could not delete where they were sent (a late PUT
    /// may have stored an object there): the backup's id, and why.
    public var leftovers: [Leftover] = []

    public struct Leftover: Sendable, Equatable {
        public var id: Int64
        public var error: String
    }

    public init() {}

    /// The facts of one registration, read from the registry (and its directory).
    public static func collect(_ registry: BackupRegistry, registration: Registration) throws -> RegistrationFacts {
        let name = registration.name
        var facts = RegistrationFacts()
        if case .filesystem(let target) = registration.provider {
            facts.untracked = UntrackedBackups.files(in: target.resolvedPath, registry: registry).count
        }
        let success = try registry.lastSuccess(of: name)
        let failure = try registry.lastRun(of: name, state: .failed)
        if let success {
            facts.lastSuccess = Success(
                id: success.id, at: success.startedAt, size: success.size ?? 0, durationMilliseconds: duration(success),
                storedBoot: success.storedBoot)
        }
        // The newest attempt, stored or failed (a crash's pending record is settled by the next run).
        // Recorded last, whatever the clock said.
        let newest = [success, failure].compactMap { $0 }.max { $0.sequence < $1.sequence }
        if let newest {
            facts.lastAttempt = Attempt(
                at: newest.startedAt, outcome: newest.state == .failed ? .failed : .stored,
                error: newest.state == .failed ? newest.error : nil, durationMilliseconds: duration(newest))
        }
        let kept = try registry.storedBackups(registration: name)
        facts.backupsKept = kept.count
        facts.bytesKept = kept.reduce(0) { $0 + ($1.size ?? 0) }
        facts.cleanupPending = try registry.backups(in: .pruning, registration: name).count
        facts.leftovers = try registry.leftovers(of: name).compactMap { record in
            record.cleanupError.map { Leftover(id: record.id, error: $0) }
        }
        facts.suspect = suspectBackups(kept)
        return facts
    }

    /// The kept backups a run stored but flagged as suspect (empty, much smaller than the last
    /// good one, an older schema version) and nobody has confirmed yet: `status --check` warns.
    public static func suspectBackups(_ kept: [BackupRecord]) -> [Suspect] {
        kept.filter(\.isUnconfirmedSuspect).map { Suspect(id: $0.id, at: $0.startedAt, reason: $0.suspect ?? "") }
    }

    static func duration(_ record: BackupRecord) -> Int64? {
        record.finishedAt.map { record.startedAt.milliseconds(until: $0) }
    }
}

// MARK: the status file's JSON

extension RegistrationFacts {
    var value: ConfigValue {
        var table: [String: ConfigValue] = [
            "backups_kept": .integer(backupsKept),
            "bytes_kept": .integer(Int(bytesKept)),
            "cleanup_pending": .integer(cleanupPending),
            "untracked": .integer(untracked),
            "leftovers": .array(
                leftovers.map { .table(["id": .integer(Int($0.id)), "error": .string($0.error)]) }),
            "suspect": .array(
                suspect.map {
                    .table([
                        "id": .integer(Int($0.id)), "at": .string($0.at.rfc3339),
                        "at_ms": .integer(Int($0.at.millisecondsSinceEpoch)), "reason": .string($0.reason),
                    ])
                }),
        ]
        table["last_success"] =
            lastSuccess.map { success in
                .table([
                    "id": .integer(Int(success.id)), "at": .string(success.at.rfc3339),
                    "at_ms": .integer(Int(success.at.millisecondsSinceEpoch)),
                    "size": .integer(Int(success.size)), "duration_ms": .optional(success.durationMilliseconds),
                    "boot_id": .optional(success.storedBoot?.bootID),
                    "boot_ms": .optional(success.storedBoot?.milliseconds),
                ])
            } ?? .null
        table["last_attempt"] =
            lastAttempt.map { attempt in
                .table([
                    "at": .string(attempt.at.rfc3339), "at_ms": .integer(Int(attempt.at.millisecondsSinceEpoch)),
                    "outcome": .string(attempt.outcome.rawValue), "error": .optional(attempt.error),
                    "duration_ms": .optional(attempt.durationMilliseconds),
                ])
            } ?? .null
        return .table(table)
    }

    init?(_ value: ConfigValue) {
        guard let kept = value["backups_kept"]?.intValue, let bytes = value["bytes_kept"]?.intValue,
            let cleanup = value["cleanup_pending"]?.intValue
        else { return nil }
        backupsKept = kept
        bytesKept = Int64(bytes)
        cleanupPending = cleanup
        untracked = value["untracked"]?.intValue ?? 0  // not in the status files of older versions
        for item in value["leftovers"]?.arrayValue ?? [] {
            guard let id = item["id"]?.intValue, let error = item["error"]?.stringValue else { return nil }
            leftovers.append(Leftover(id: Int64(id), error: error))
        }
        if let success = value["last_success"], success != .null {
            guard let id = success["id"]?.intValue, let at = success["at_ms"]?.intValue,
                let size = success["size"]?.intValue
            else { return nil }
            lastSuccess = Success(
                id: Int64(id), at: Timestamp(millisecondsSinceEpoch: Int64(at)), size: Int64(size),
                durationMilliseconds: success["duration_ms"]?.intValue.map(Int64.init),
                storedBoot: success["boot_id"]?.stringValue.flatMap { id in
                    success["boot_ms"]?.intValue.map { BootInstant(bootID: id, milliseconds: Int64($0)) }
                })
        }
        if let attempt = value["last_attempt"], attempt != .null {
            guard let at = attempt["at_ms"]?.intValue,
                let outcome = attempt["outcome"]?.stringValue.flatMap(Attempt.Outcome.init(rawValue:))
            else { return nil }
            lastAttempt = Attempt(
                at: Timestamp(millisecondsSinceEpoch: Int64(at)), outcome: outcome,
                error: attempt["error"]?.stringValue,
                durationMilliseconds: attempt["duration_ms"]?.intValue.map(Int64.init))
        }
        for item in value["suspect"]?.arrayValue ?? [] {
            guard let id = item["id"]?.intValue, let at = item["at_ms"]?.intValue,
                let reason = item["reason"]?.stringValue
            else { return nil }
            suspect.append(Suspect(id: Int64(id), at: Timestamp(millisecondsSinceEpoch: Int64(at)), reason: reason))
        }
    }
}

import Glibc
import SystemCalls

extension Locations {
    /// Where runs leave what monitoring reads: the status file (group `dbbackup-monitor`
    /// only) and the Prometheus metrics (anyone; the node exporter serves them anyway). A
    /// directory of its own, beside the registry's, which that group cannot enter.
    public var monitorDirectory: String {
        stateDirectory == Self.defaultStateDirectory ? "/var/lib/dbbackup-monitor" : "\(stateDirectory)/monitor"
    }

    public var statusFile: String { "\(monitorDirectory)/status.json" }
    /// Linked into the node exporter's textfile directory by the package.
    public var metricsFile: String { "\(monitorDirectory)/dbbackup.prom" }
}

/// Every registration's facts at one moment: what a run writes to the status file.
public struct MonitorSnapshot: Sendable, Equatable {
    public var writtenAt: Timestamp
    public var registrations: [String: RegistrationFacts]

    public init(writtenAt: Timestamp, registrations: [String: RegistrationFacts]) {
        self.writtenAt = writtenAt
        self.registrations = registrations
    }

    /// The facts of `registrations`, from the registry.
    public static func collect(
        _ registry: BackupRegistry, registrations: [Registration], at time: Timestamp = .now()
    ) throws -> MonitorSnapshot {
        var facts: [String: RegistrationFacts] = [:]
        for registration in registrations {
            facts[registration.name] = try RegistrationFacts.collect(registry, registration: registration)
        }
        return MonitorSnapshot(writtenAt: time, registrations: facts)
    }

    public var json: String {
        ConfigValue.table([
            "version": .integer(1),
            "written_at": .string(writtenAt.rfc3339),
            "written_at_ms": .integer(Int(writtenAt.millisecondsSinceEpoch)),
            "registrations": .table(registrations.mapValues(\.value)),
        ]).json() + "\n"
    }

    public init?(json: String) {
        guard let value = try? ConfigValue.parseJSON(json), value["version"]?.intValue == 1,
            let written = value["written_at_ms"]?.intValue, case .table(let table)? = value["registrations"]
        else { return nil }
        var facts: [String: RegistrationFacts] = [:]
        for (name, item) in table {
            guard let parsed = RegistrationFacts(item) else { return nil }
            facts[name] = parsed
        }
        self.init(writtenAt: Timestamp(millisecondsSinceEpoch: Int64(written)), registrations: facts)
    }
}

/// Writes and reads the monitoring files. A run calls `update` once it is done; a failure to
/// write them is reported and never fails the backup.
public enum MonitorFiles {
    /// Rewrites the status file and the metrics from the registry, for the configured
    /// registrations. Returns what went wrong, for a warning.
    public static func update(locations: Locations, config: LoadedConfig, now: Timestamp = .now()) -> String? {
        do {
            let registry = try BackupRegistry(path: locations.registryPath)
            let snapshot = try MonitorSnapshot.collect(registry, registrations: config.registrations, at: now)
            try write(snapshot, config: config, locations: locations)
            return nil
        } catch {
            return "the monitoring files in \(locations.monitorDirectory) were not updated: \(error)"
        }
    }

    /// Root, before a service starts (`prepare-run`): the services run as the database's owner,
    /// so the monitoring directory becomes that identity's, keeping its group and setgid bit.
    public static func prepareDirectory(locations: Locations, owner uid: uid_t) -> String? {
        let directory = locations.monitorDirectory
        guard case .found(let info) = PathAccess.lookup(directory), info.st_uid != uid else { return nil }
        if chown(directory, uid, gid_t.max) != 0 {  // gid (gid_t)-1: unchanged
            return "cannot give \(directory) to uid \(uid): \(String(cString: strerror(errno)))"
        }
        return "gave \(directory) to uid \(uid), the services' identity"
    }

    static func write(_ snapshot: MonitorSnapshot, config: LoadedConfig, locations: Locations) throws {
        let directory = locations.monitorDirectory
        if !FileSystem.isDirectory(directory) { try FileSystem.makeDirectories(directory, mode: 0o750) }
        // The directory is setgid dbbackup-monitor (tmpfiles.d): new files get that group, also
        // under the service's PrivateUsers=, where the group has no name.
        try FileSystem.writeAtomically(Array(snapshot.json.utf8), to: locations.statusFile, mode: 0o640)
        let metrics = PrometheusText.render(snapshot, config: config, locations: locations)
        try FileSystem.writeAtomically(Array(metrics.utf8), to: locations.metricsFile, mode: 0o644)
    }

    public enum ReadError: Error, Sendable {
        /// No run has written it yet.
        case missing
        case denied(String)
        case unreadable(String)
    }

    public static func readStatus(locations: Locations) -> Result<MonitorSnapshot, ReadError> {
        let path = locations.statusFile
        do {
            FileSystem.close(try FileSystem.open(path, O_RDONLY))
        } catch {
            if error.errno == ENOENT { return .failure(.missing) }
            let reason = "\(path): \(SystemError.text(error.errno))"
            return .failure(error.isPermissionDenied ? .denied(reason) : .unreadable(reason))
        }
        guard let bytes = try? FileSystem.readAll(path),
            let snapshot = MonitorSnapshot(json: String(decoding: bytes, as: UTF8.self))
        else {
            return .failure(.unreadable("\(path) is not a status file dbbackup wrote"))
        }
        return .success(snapshot)
    }

    /// When a registration file was last written, the start of waiting for its first backup.
    public static func configuredAt(_ registration: Registration, locations: Locations) -> Timestamp? {
        FileSystem.modificationTime(of: locations.registrationFile(registration.name)).map {
            Timestamp(millisecondsSinceEpoch: $0 / 1_000_000)
        }
    }

    /// The grace period of the main configuration, or the default.
    public static func graceSeconds(_ config: LoadedConfig) -> Int {
        (config.main?.monitoring.graceMinutes ?? MonitorSettings.defaultGraceMinutes) * 60
    }
}

/// The metrics in Prometheus' text format, for the node exporter's textfile collector.
enum PrometheusText {
    static func render(_ snapshot: MonitorSnapshot, config: LoadedConfig, locations: Locations) -> String {
        var families: [(name: String, help: String, samples: [(labels: String, value: String)])] = []
        func family(_ name: String, _ help: String, _ value: (Registration, RegistrationFacts) -> String?) {
            let samples = config.registrations.compactMap { registration -> (String, String)? in
                let facts = snapshot.registrations[registration.name] ?? RegistrationFacts()
                return value(registration, facts).map { ("{registration=\"\(escape(registration.name))\"}", $0) }
            }
            families.append((name, help, samples))
        }
        func seconds(_ time: Timestamp) -> String { seconds(milliseconds: time.millisecondsSinceEpoch) }
        func seconds(milliseconds: Int64) -> String {
            let whole = floorDivide(milliseconds, 1000)
            let fraction = String(milliseconds - whole * 1000)
            return "\(whole).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
        }
        let grace = Int64(MonitorFiles.graceSeconds(config)) * 1000

        family(
            "dbbackup_last_success_timestamp_seconds",
            "When the newest successful backup was taken (its snapshot's start), Unix time."
        ) { $1.lastSuccess.map { seconds($0.at) } }
        family("dbbackup_last_success_size_bytes", "Size of the newest successful backup.") {
            $1.lastSuccess.map { String($0.size) }
        }
        family("dbbackup_last_attempt_timestamp_seconds", "When the newest run started, Unix time.") {
            $1.lastAttempt.map { seconds($0.at) }
        }
        family("dbbackup_last_attempt_success", "1 if the newest run stored its backup, 0 if it failed.") {
            $1.lastAttempt.map { $0.outcome == .stored ? "1" : "0" }
        }
        family("dbbackup_last_attempt_duration_seconds", "How long the newest run took.") {
            $1.lastAttempt?.durationMilliseconds.map { seconds(milliseconds: $0) }
        }
        family("dbbackup_backups_kept", "Backups kept by retention.") { String($1.backupsKept) }
        family("dbbackup_backups_kept_bytes", "Total size of the backups kept.") { String($1.bytesKept) }
        family("dbbackup_cleanup_pending_backups", "Backups retention could not delete yet (retried by the next run).")
        { String($1.cleanupPending) }
        family("dbbackup_suspect_backups", "Kept backups that look wrong and are not confirmed.") {
            String($1.suspect.count)
        }
        family(
            "dbbackup_overdue_timestamp_seconds",
            """
            When a scheduled registration becomes overdue without a new success: its next run after the last \
            success, plus the grace period. Unix time.
            """
        ) { registration, facts in
            guard let anchor = facts.lastSuccess?.at ?? MonitorFiles.configuredAt(registration, locations: locations),
                let due = ScheduleCalendar(registration.schedule)?.nextRun(after: anchor)
            else { return nil }
            return seconds(Timestamp(millisecondsSinceEpoch: due.millisecondsSinceEpoch + grace))
        }

        var text = ""
        for family in families where !family.samples.isEmpty {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) gauge\n"
            for sample in family.samples { text += "\(family.name)\(sample.labels) \(sample.value)\n" }
        }
        text +=
            """
            # HELP dbbackup_metrics_written_timestamp_seconds When dbbackup last wrote these metrics (after a \
            run), Unix time.\n
            """
        text += "# TYPE dbbackup_metrics_written_timestamp_seconds gauge\n"
        text += "dbbackup_metrics_written_timestamp_seconds \(seconds(snapshot.writtenAt))\n"
        return text
    }

    /// Label values escape backslash, double quote and line feed.
    static func escape(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }
}

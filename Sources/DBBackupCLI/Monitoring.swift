import BackupCore
import FoundationEssentials

/// What a run tells monitoring: heartbeat pings around each registration's run, and the
/// status file and metrics rewritten once the runs are done (`MonitorFiles`). Neither can
/// fail a backup; problems become warnings in the journal.
enum Monitoring {
    /// Runs `body` (one registration's backup) between its heartbeat's start ping and its
    /// success or failure ping.
    static func around(
        _ registration: Registration, _ config: MainConfig,
        _ body: () throws(RunFailure) -> RunReport
    ) throws(RunFailure) -> RunReport {
        guard let heartbeat = Heartbeat(registration: registration, settings: config.monitoring) else {
            return try body()
        }
        heartbeat.ping(.start, warn: Output.stderr)
        do {
            let report = try body()
            let backup = report.backup
            var summary =
                """
                \(registration.name): stored \(backup.size ?? 0) bytes, schema version \(backup.version ?? "?"), \
                in \(report.durationMilliseconds) ms
                """
            if let cleanup = report.cleanupFailure { summary += "; but \(cleanup.message)" }
            // A suspect backup is stored, but it is as loud as a failure: someone must look.
            if let suspect = report.suspect {
                heartbeat.ping(.failure("\(registration.name): \(suspect.message)"), warn: Output.stderr)
            } else {
                heartbeat.ping(.success(summary), warn: Output.stderr)
            }
            return report
        } catch {
            heartbeat.ping(.failure("\(registration.name): \(error.message)"), warn: Output.stderr)
            throw error
        }
    }

    /// After the runs of one `dbbackup run`: the status file and the Prometheus metrics.
    static func afterRun(_ locations: Locations, _ store: ConfigFiles) {
        if let problem = MonitorFiles.update(locations: locations, config: store.load()) {
            Output.stderr("warning: \(problem)")
        }
    }
}

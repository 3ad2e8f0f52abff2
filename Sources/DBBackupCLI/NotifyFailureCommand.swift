import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

struct NotifyFailure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-failure",
        abstract:
            """
            Run by dbbackup-failure@.service: record a unit's failure in the journal and run the configured \
            on_failure command.
            """
    )

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The unit that failed, e.g. dbbackup@nightly.service.") var unit: String

    func run() throws {
        do {
            var registration = Self.registration(of: unit)
            var error = "see: journalctl -u \(unit)"
            if let registration, let registry = try? BackupRegistry(path: globals.locations.registryPath),
                let failure = try? registry.lastRun(of: registration, state: .failed), let message = failure.error
            {
                error = message
            } else if unit == "dbbackup-migration.service",
                let (names, errors) = Self.migrationFailures(in: globals.locations)
            {
                // The migration service runs several registrations: name the ones that failed.
                (registration, error) = (names.isEmpty ? nil : names, errors)
            }
            let message = "\(unit) failed: \(error)"
            try? JournalWriter.send(
                message, priority: .error, messageID: Reporting.MessageID.unitFailed,
                fields: [
                    "DBBACKUP_UNIT": unit, "DBBACKUP_REGISTRATION": registration ?? "",
                    "DBBACKUP_OUTCOME": "unit-failed", "DBBACKUP_ERROR": error,
                ])
            if !Reporting.toJournal { print(message) }  // under systemd the record above is the message
            guard let config = try? globals.store.loadMain(), let program = config.onFailure.first else { return }
            var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DBBACKUP_UNIT": unit, "DBBACKUP_ERROR": error]
            if let registration { environment["DBBACKUP_REGISTRATION"] = registration }
            let result = try Subprocess.run(program, Array(config.onFailure.dropFirst()), environment: environment)
            if !result.stdout.isEmpty { print(result.stdout, terminator: "") }
            if !result.stderr.isEmpty { Output.stderr(result.stderr) }
            if result.status != 0 {
                throw CLIError("notify.on_failure command \(program) exited with status \(result.status)")
            }
        }
    }

    /// From the latest migration run's result, written in the last 10 minutes: the
    /// registrations that failed (comma-separated) and their errors.
    static func migrationFailures(in locations: Locations) -> (String, String)? {
        guard let result = MigrationRequests(directory: locations.runtimeDirectory).latest(),
            result.finishedAt.millisecondsSinceEpoch >= Timestamp.now().millisecondsSinceEpoch - 600_000
        else { return nil }
        let failed = result.backups.filter { $0.exitCode != 0 }
        guard !failed.isEmpty else { return result.error.map { ("", $0) } }
        return (
            failed.map(\.registration).joined(separator: ","),
            failed.map { "\($0.registration): \($0.error ?? "failed")" }.joined(separator: "; ")
        )
    }

    /// `dbbackup@NAME.service` → NAME (unescaped); the migration service → nil.
    static func registration(of unit: String) -> String? {
        guard unit.hasPrefix("dbbackup@"), let at = unit.firstIndex(of: "@"), let dot = unit.lastIndex(of: ".") else {
            return nil
        }
        return try? systemdUnescape(String(unit[unit.index(after: at)..<dot]))
    }
}

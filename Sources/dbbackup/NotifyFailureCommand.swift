import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemdSupport

struct NotifyFailure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-failure",
        abstract: "Run by dbbackup-failure@.service: record a unit's failure in the journal and run the configured on_failure command.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The unit that failed, e.g. dbbackup@nightly.service.") var unit: String

    func run() throws {
        try reportingErrors {
            let registration = Self.registration(of: unit)
            var error = "see: journalctl -u \(unit)"
            if let registration, let registry = try? Registry(path: globals.locations.registryPath),
               let failure = try? registry.lastRun(of: registration, state: .failed), let message = failure.error {
                error = message
            }
            let message = "\(unit) failed: \(error)"
            try? JournalWriter.send(message, priority: .error, messageID: Reporting.MessageID.unitFailed, fields: [
                "DBBACKUP_UNIT": unit, "DBBACKUP_REGISTRATION": registration ?? "", "DBBACKUP_OUTCOME": "unit-failed", "DBBACKUP_ERROR": error,
            ])
            print(message)
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

    /// `dbbackup@NAME.service` → NAME (unescaped); the migration service → nil.
    static func registration(of unit: String) -> String? {
        guard unit.hasPrefix("dbbackup@"), let at = unit.firstIndex(of: "@"), let dot = unit.lastIndex(of: ".") else { return nil }
        return try? systemdUnescape(String(unit[unit.index(after: at)..<dot]))
    }
}

import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import Logging
import SystemCalls
import SystemdSupport

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Take a backup now: snapshot, store, record, prune (the executor systemd runs).",
        discussion: """
            `dbbackup run NAME` runs one registration; `dbbackup run --trigger migration` runs every \
            registration whose schedule is migration, one after the other, and fails if any failed \
            (with the most severe status among them, in this order from the bottom up).

            Exit status:
            """ + ExitStatus.helpText)

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "The registration to run.") var name: String?

    @Option(
        help:
            """
            Why this run happens: timer, migration or manual (default manual; without NAME, migration runs every \
            migration registration).
            """
    )
    var trigger: String?

    func validate() throws {
        if let trigger, BackupTrigger(rawValue: trigger) == nil {
            throw ValidationError("--trigger \(trigger) is not a trigger; use timer, migration or manual")
        }
        if name == nil && trigger != BackupTrigger.migration.rawValue {
            throw ValidationError(
                """
                name a registration (dbbackup run NAME), or run all migration registrations with: dbbackup run \
                --trigger migration
                """
            )
        }
    }

    func run() throws {
        do {
            let locations = globals.locations
            let store = globals.store
            let trigger = trigger.flatMap(BackupTrigger.init(rawValue:)) ?? .manual
            // A migration run serves the requests of `pre-migrate` (and a hand-touched marker).
            let requests = MigrationRequests(directory: locations.runtimeDirectory)
            let claimed = name == nil ? requests.claim() : []
            var results: [MigrationResult.Backup] = []
            defer {
                if name == nil { requests.writeResult(MigrationResult(backups: results), for: claimed) }
            }

            let config: MainConfig
            let registrations: [Registration]
            // Migration registrations whose files are broken: the others still run, but the run
            // must not report success without them (the deploy would go on without a backup).
            var skipped: [RunFailure] = []
            do {
                config = try store.loadMain()
                if let name {
                    registrations = [try store.registration(named: name)]
                } else {
                    let loaded = store.load()
                    registrations = loaded.registrations.filter { $0.schedule.kind == .migration }
                    for problem in loaded.errors where !problem.file.hasSuffix("dbbackup.toml") {
                        Output.stderr("skipped: \(problem.description)")
                    }
                    skipped = loaded.broken.filter(\.mayBeMigration).map { broken in
                        RunFailure(
                            .configuration, registration: broken.name,
                            """
                            \(store.locations.display(store.locations.registrationFile(broken.name))) is broken \
                            (see above, or: dbbackup config check), and it may be a migration registration: no \
                            backup was taken for it
                            """
                        )
                    }
                    if let unreadable = loaded.errors.first(where: {
                        $0.file == store.locations.display(store.locations.registrationsDirectory)
                    }) {
                        skipped.append(RunFailure(.configuration, registration: nil, unreadable.description))
                    }
                    if registrations.isEmpty && skipped.isEmpty {
                        throw CLIError(
                            """
                            no registration has schedule migration; add one with: dbbackup registration add NAME \
                            --provider filesystem --path DIR --schedule migration
                            """,
                            exitCode: RunFailure.Kind.configuration.exitCode)
                    }
                }
            } catch {
                results = [
                    MigrationResult.Backup(
                        registration: name ?? "*", ok: false, error: "\(error)",
                        exitCode: RunFailure.Kind.configuration.exitCode)
                ]
                throw error
            }

            let runner = BackupRunner(
                locations: locations, config: config, logger: CLILogging.logger, observer: Reporting.observer())
            var worst: RunFailure?
            func fail(_ failure: RunFailure) {
                Output.stderr("dbbackup: \(failure.description)")
                if worst == nil || failure.kind.status.severity > worst!.kind.status.severity { worst = failure }
            }
            for registration in registrations {
                do throws(RunFailure) {
                    let report = try Monitoring.around(registration, config) { () throws(RunFailure) in
                        try runner.run(registration, trigger: trigger)
                    }
                    ProgressLine.clear()
                    let backup = report.backup
                    for warning in report.warnings { CLILogging.logger.warning("\(registration.name): \(warning)") }
                    let problem = report.suspect ?? report.cleanupFailure
                    Reporting.journal(registration, trigger: trigger, report: report, failure: problem)
                    // Under systemd the structured entry above says it all; stdout would repeat it.
                    if !Reporting.toJournal {
                        print(
                            """
                            \(registration.name): stored \(backup.location?.description ?? "?") \
                            (\(Output.size(backup.size ?? 0)), schema version \(backup.version ?? "?"), sha256 \
                            \(backup.sha256 ?? "?")) in \(report.durationMilliseconds) ms
                            """
                        )
                        for pruned in report.pruned {
                            print("\(registration.name): retention deleted \(pruned.location?.description ?? "?")")
                        }
                    }
                    if config.retention.keep(for: registration.provider) == nil {
                        let option = registration.provider.kind == "s3" ? "--remote" : "--local"
                        Output.stderr(
                            """
                            warning: retention keeps every backup of \(registration.name) (no automatic cleanup); \
                            set a limit with: dbbackup retention set \(option) N
                            """
                        )
                    }
                    // Stored but not pruned is still a backup the migration can rely on; a
                    // suspect one stops the deploy until someone has looked at the database.
                    results.append(
                        MigrationResult.Backup(
                            registration: registration.name, ok: report.suspect == nil,
                            location: backup.location?.description,
                            size: backup.size, sha256: backup.sha256, version: backup.version,
                            error: problem?.message, exitCode: report.status.code))
                    if let problem { fail(problem) }
                    if let cleanup = report.cleanupFailure, report.suspect != nil { fail(cleanup) }
                } catch {
                    ProgressLine.clear()
                    Reporting.journal(registration, trigger: trigger, report: nil, failure: error)
                    results.append(
                        MigrationResult.Backup(
                            registration: registration.name, ok: false, error: error.message,
                            exitCode: error.kind.exitCode))
                    fail(error)
                }
            }
            for failure in skipped {
                results.append(
                    MigrationResult.Backup(
                        registration: failure.registration ?? "registrations.d", ok: false, error: failure.message,
                        exitCode: failure.kind.exitCode))
                fail(failure)
            }
            Monitoring.afterRun(locations, store)
            // The last progress text would otherwise stay in `systemctl status` after the run.
            let outcome = results.map {
                """
                \($0.registration) \
                \($0.ok ? "stored" : "failed")\($0.exitCode == 0 ? "" : " (exit status \($0.exitCode))")
                """
            }
            _ = try? SystemdNotifier.notify(.status("done: " + outcome.joined(separator: ", ")))
            if let worst { throw ExitCode(worst.kind.exitCode) }
        }
    }
}

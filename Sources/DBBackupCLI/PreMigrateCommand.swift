import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

struct PreMigrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pre-migrate",
        abstract:
            """
            For deploy scripts: ask for the pre-migration backup and wait for it. Exit 0 only if every migration \
            registration succeeded.
            """,
        discussion: """
            Files a request in /run/dbbackup and touches the migration marker, which starts \
            dbbackup-migration.service; waits for that run's result for this request and prints what \
            was backed up. Where systemd is not running, runs the migration backups itself. \
            Fire and forget instead: touch /run/dbbackup/migration-request
            """)

    @OptionGroup var globals: GlobalOptions
    @Option(help: ArgumentHelp("How long to wait, e.g. 90s, 10m, 1h.", valueName: "DURATION")) var timeout = "30m"

    func validate() throws {
        if DurationParser.seconds(timeout) == nil {
            throw ValidationError("--timeout \(timeout) is not a duration; e.g. 90s, 10m, 1h")
        }
    }

    func run() throws {
        do {
            let store = globals.store
            _ = try store.loadMain()
            let loaded = store.load()
            let migration = loaded.registrations.filter { $0.schedule.kind == .migration }
            // A broken file that may be a migration registration: the run reports it as failed.
            guard !migration.isEmpty || loaded.broken.contains(where: \.mayBeMigration) else {
                throw CLIError(
                    """
                    no registration has schedule migration, so no backup would be taken; add one with: dbbackup \
                    registration add NAME --provider filesystem --path DIR --schedule migration
                    """,
                    exitCode: RunFailure.Kind.configuration.exitCode)
            }
            guard Systemctl.isBooted else {
                Output.stderr("note: systemd is not running here; running the migration backups directly")
                var run = try Run.parse(["--trigger", "migration"])
                run.globals = globals
                try run.run()
                return
            }
            let requests = MigrationRequests(directory: globals.locations.runtimeDirectory)
            let request: MigrationRequests.Request
            do {
                request = try requests.submit()
            } catch {
                throw CLIError(
                    """
                    cannot file the request in \(requests.directory): \(error); run as root or as a member of \
                    group dbbackup
                    """
                )
            }
            let deadline = Date().addingTimeInterval(DurationParser.seconds(timeout)!)
            var checks = 0
            while true {
                if let result = requests.result(for: request.id) {
                    requests.removeResult(for: request.id)
                    try report(result)
                    return
                }
                if Date() >= deadline {
                    // Not yet claimed: take it back, so no backup starts later for a deploy that gave up.
                    let outcome =
                        requests.withdraw(request)
                        ? "withdrawn, no run had started for it" : "a run serving it is still going"
                    throw CLIError(
                        """
                        no result for request \(request.id) after \(timeout) (\(outcome)); see: journalctl -u \
                        dbbackup-migration.service
                        """
                    )
                }
                checks += 1
                // Now and then, make sure someone is listening.
                if checks % 20 == 1, let state = try? Systemctl.run("is-active", "dbbackup-migration.path"),
                    state.stdout.trimmed != "active"
                {
                    requests.withdraw(request)
                    throw CLIError(
                        """
                        dbbackup-migration.path is not active, so nobody serves the request; start it with: \
                        systemctl start dbbackup.target
                        """
                    )
                }
                Syscalls.sleep(for: .milliseconds(100))
            }
        }
    }

    private func report(_ result: MigrationResult) throws {
        for backup in result.backups {
            if backup.ok, let location = backup.location {
                print(
                    """
                    \(backup.registration): stored \(location) (\(Output.size(backup.size ?? 0)), schema version \
                    \(backup.version ?? "?"))
                    """
                )
            } else if backup.ok {
                print("\(backup.registration): stored; \(backup.error ?? "")")
            } else {
                Output.stderr("dbbackup: \(backup.registration): \(backup.error ?? "failed")")
            }
        }
        guard result.ok else {
            let code =
                result.backups.filter { !$0.ok }.map(\.exitCode).max {
                    ExitStatus.severity(of: $0) < ExitStatus.severity(of: $1)
                } ?? 1
            throw CLIError("the pre-migration backup failed; do not migrate", exitCode: code)
        }
        print("pre-migration backup done: \(result.backups.count) registration(s)")
    }
}

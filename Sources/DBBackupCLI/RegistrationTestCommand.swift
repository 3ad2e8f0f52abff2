import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

extension RegistrationCommand {
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract:
                """
                Probe a registration for real, as its service would run it: read the database; s3, PUT then \
                DELETE of a small object (the two permissions backups need); a directory, write then remove a file.
                """,
            discussion: """
                As root where systemd runs, the database and the directory are checked in a transient unit with \
                the service's identity and sandbox; as root elsewhere, as the service's identity. A missing \
                directory is created first (as root), owned by that identity, as the service's start would.
                """)

        @OptionGroup var globals: GlobalOptions
        @Argument(help: "Registration name.") var name: String

        func run() throws {
            do {
                let registration = try globals.store.registration(named: name)
                let loaded = globals.store.load()
                var steps: [BackupStoreProbe.Step] = []
                var storeFailed = false
                if case .filesystem(let target) = registration.provider, !FileSystem.exists(target.resolvedPath) {
                    if geteuid() == 0,
                        let identity = BackupDirectories.serviceIdentity(database: loaded.main?.database.resolvedPath)
                    {
                        var done: [String] = []
                        BackupDirectorySetup.prepare(target.resolvedPath, for: identity) { done.append($0) }
                        for line in done {
                            steps.append(
                                BackupStoreProbe.Step(action: line, ok: !line.hasPrefix("cannot"), detail: nil))
                        }
                        if done.contains(where: { $0.hasPrefix("cannot") }) { storeFailed = true }
                    } else if let problem = ConfigCheck.missingDirectory(target.resolvedPath) {
                        steps.append(
                            BackupStoreProbe.Step(
                                action: "create \(target.resolvedPath)", ok: false,
                                detail: "\(problem.message); \(problem.fix)"))
                        storeFailed = true
                    } else {
                        steps.append(
                            BackupStoreProbe.Step(
                                action: "find \(target.resolvedPath)", ok: false,
                                detail:
                                    """
                                    it does not exist yet; the service creates it for its identity when it starts \
                                    (so does this test, run as root)
                                    """
                            ))
                        storeFailed = true
                    }
                }
                // A directory still missing has been reported above.
                let missing =
                    if case .filesystem(let target) = registration.provider {
                        !FileSystem.exists(target.resolvedPath)
                    } else { false }
                let report = AccessProbe.run(
                    database: loaded.main != nil, registrations: missing ? [] : [registration], globals: globals,
                    loaded: loaded)
                for problem in report.problems {
                    steps.append(
                        BackupStoreProbe.Step(
                            action: "check that systemd runs this configuration", ok: false,
                            detail: problem.message + (problem.fix.map { "; \($0)" } ?? "")))
                }
                var databaseFailed = false
                for finding in report.findings {
                    let action =
                        finding.registration == nil
                        ? (finding.field == "database.path" ? "read the database" : "check \(finding.field)")
                        : "write and remove a file"
                    steps.append(BackupStoreProbe.Step(action: action, ok: finding.ok, detail: finding.message))
                    if !finding.ok {
                        if finding.registration == nil { databaseFailed = true } else { storeFailed = true }
                    }
                }
                var notes: [String] = []
                if case .s3 = registration.provider {
                    let transfer = (try? globals.store.loadMain().s3) ?? S3Transfer()
                    let prober = BackupStoreProbe(locations: globals.locations, transfer: transfer)
                    let probe = prober.run(registration)
                    steps += probe
                    if probe.contains(where: { !$0.ok }) { storeFailed = true }
                    let databaseSize = (try? globals.store.loadMain()).flatMap {
                        try? FileSystem.size($0.database.resolvedPath)
                    }
                    notes = prober.notes(registration, databaseSize: databaseSize)
                }
                for step in steps {
                    print("\(step.ok ? "ok  " : "FAIL") \(step.action)\(step.detail.map { ": \($0)" } ?? "")")
                }
                for note in notes { print("note: \(note)") }
                for line in report.how { print(line) }
                if storeFailed {
                    throw CLIError(
                        "registration \(name): the store is not usable as configured",
                        exitCode: RunFailure.Kind.store.exitCode)
                }
                if databaseFailed {
                    throw CLIError(
                        "registration \(name): the service could not read the database",
                        exitCode: RunFailure.Kind.permission.exitCode)
                }
                print("registration \(name): the store works")
            }
        }
    }
}

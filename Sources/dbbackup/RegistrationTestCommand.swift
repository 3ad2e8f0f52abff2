import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

extension RegistrationCommand {
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Probe a registration's store for real: s3, PUT then DELETE of a small object (the two permissions backups need); a directory, write then remove a file.")

        @OptionGroup var globals: GlobalOptions
        @Argument(help: "Registration name.") var name: String

        func run() throws {
            try reportingErrors {
                let registration = try globals.store.registration(named: name)
                let transfer = (try? globals.store.loadMain().s3) ?? S3Transfer()
                let probe = StoreProbe(locations: globals.locations, transfer: transfer)
                var steps = probe.run(registration)
                // The probe writes as whoever runs it (often root); the service writes as its own user.
                if case .filesystem(let target) = registration.provider, let problem = ServiceUser.cannotWrite(target.resolvedPath) {
                    steps.append(StoreProbe.Step(action: "write as the service user", ok: false, detail: problem))
                }
                for step in steps {
                    print("\(step.ok ? "ok  " : "FAIL") \(step.action)\(step.detail.map { ": \($0)" } ?? "")")
                }
                let databaseSize = (try? globals.store.loadMain()).flatMap { try? FileSystem.size($0.database.resolvedPath) }
                for note in probe.notes(registration, databaseSize: databaseSize) { print("note: \(note)") }
                if steps.contains(where: { !$0.ok }) {
                    throw CLIError("registration \(name): the store is not usable as configured", exitCode: RunFailure.Kind.store.exitCode)
                }
                print("registration \(name): the store works")
            }
        }
    }
}

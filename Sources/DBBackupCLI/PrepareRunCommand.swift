import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

/// `ExecStartPre=+` of the services (root, before the sandbox is set up): what the sandboxed
/// run cannot do for itself. Hidden: systemd runs it, people do not.
struct PrepareRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare-run",
        abstract:
            """
            For the services' ExecStartPre=+: create missing backup directories for the service's identity (and, \
            for the migration service, give it /run/dbbackup).
            """,
        shouldDisplay: false)

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The registration the run is for (the instance).") var name: String?
    @Option(help: "migration: every migration registration, and the request directories.") var trigger: String?

    func run() throws {
        // Never fails the start: the run itself reports whatever is still wrong, and a failed
        // migration run still writes the result a waiting deploy script needs.
        guard geteuid() == 0 else { return print("prepare-run: not root; nothing prepared") }
        let environment = ProcessInfo.processInfo.environment
        guard var identity = environment[ServiceIdentity.environmentName].flatMap(ServiceIdentity.parse) else {
            return print("prepare-run: \(ServiceIdentity.environmentName) is not set to USER:GROUP; nothing prepared")
        }
        // An override of User= that left the identity variable behind: follow User=.
        if let user = environment["USER"], let entry = getpwnam(user), entry.pointee.pw_uid != identity.uid {
            print(
                """
                prepare-run: User=\(user) differs from \
                \(ServiceIdentity.environmentName)=\(identity.environmentValue); preparing for \(user)
                """
            )
            identity = ServiceIdentity(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
        }
        let loaded = globals.store.load()
        // The database is mounted now (RequiresMountsFor=): keep its owner on record for the
        // generator, which at the next boot runs before it is.
        Activation.recordIdentity(loaded, globals: globals)
        let migration = trigger == BackupTrigger.migration.rawValue
        let registrations = loaded.registrations.filter { migration ? $0.schedule.kind == .migration : $0.name == name }
        for registration in registrations {
            guard case .filesystem(let target) = registration.provider else { continue }
            BackupDirectorySetup.prepare(target.resolvedPath, for: identity, report: { print("prepare-run: \($0)") })
        }
        // Every run writes the status file and metrics there, as this identity.
        if let done = MonitorFiles.prepareDirectory(locations: globals.locations, owner: identity.uid) {
            print("prepare-run: \(done)")
        }
        if migration {
            let requests = MigrationRequests(directory: globals.locations.runtimeDirectory)
            do {
                try requests.prepare(owner: identity.uid)
            } catch {
                print("prepare-run: cannot give \(requests.directory) to uid \(identity.uid): \(error)")
            }
        }
    }
}

/// Backup directories made by root for the services' identity, with what was done said.
enum BackupDirectorySetup {
    static func prepare(_ directory: String, for identity: ServiceIdentity, report: (String) -> Void) {
        do {
            switch try BackupDirectories.prepare(directory, for: identity) {
            case .existed: break
            case .created:
                report(
                    """
                    created \(directory) (owner \(ProcessIdentity.describe(uid: identity.uid)), mode \
                    0\(String(BackupDirectories.mode, radix: 8)))
                    """
                )
            case .adopted(let files):
                report(
                    """
                    handed \(directory) and \(files) backup file(s) in it from user \
                    \(ServiceIdentity.fallbackUser) to \(ProcessIdentity.describe(uid: identity.uid)), the \
                    database's owner the services now run as
                    """
                )
            }
        } catch {
            report("cannot prepare \(directory) for \(ProcessIdentity.describe(uid: identity.uid)): \(error)")
        }
    }

    /// When root configures a registration: its directory, ready for the identity the services
    /// will run as. Does nothing for other users, who could only create it as themselves.
    /// `note` says what was done (a line on stdout, or a note of a `--json` outcome).
    static func prepareForService(_ directory: String, globals: GlobalOptions, note: (String) -> Void = { print($0) }) {
        guard geteuid() == 0 else { return }
        let database = (try? globals.store.loadMain())?.database.resolvedPath
        guard let identity = BackupDirectories.serviceIdentity(database: database) else { return }
        prepare(directory, for: identity, report: note)
    }
}

import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

public struct DBBackup: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dbbackup",
        abstract: "Backups of an application's SQLite database, to local directories and S3-compatible stores.",
        discussion: """
            Configuration lives in --config-dir (default /etc/dbbackup): dbbackup.toml for the database \
            and retention, registrations.d/NAME.toml for each backup job. The registry of backups lives \
            in --state-dir (default /var/lib/dbbackup). Both options may come before or after the verb.
            """,
        version: DBBackupVersion.current,
        subcommands: [
            Init.self, RegistrationCommand.self, RetentionCommand.self, ConfigCommand.self,
            Run.self, List.self, Restore.self, Confirm.self, RegistryCommand.self, Status.self, Apply.self,
            PreMigrate.self, Generate.self,
            NotifyFailure.self, PrepareRun.self, AccessCheck.self,
        ]
    )

    /// Installed as /usr/lib/systemd/system-generators/dbbackup-generator (a link to the
    /// binary), it runs as the generator.
    public init() {}

    public static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if CommandLine.arguments.first.map({ FileSystem.name(of: $0) }) == "dbbackup-generator" {
            run(Generate.self, arguments)
        } else {
            run(self, GlobalOptions.placedAfterVerb(arguments, root: self))
        }
    }

    /// The one place errors become messages and exit statuses: a `UserFacingError` prints its
    /// text to stderr and exits with its status; argument-parser's own (usage, --help,
    /// `ExitCode`) go its way; anything else is status 1 with its description.
    static func run(_ root: any ParsableCommand.Type, _ arguments: [String]) -> Never {
        var command: any ParsableCommand
        do {
            command = try root.parseAsRoot(arguments)
        } catch {
            root.exit(withError: error)
        }
        do {
            try command.run()
            root.exit()
        } catch let error as UserFacingError {
            Output.stderr(error.rendered)
            Glibc.exit(error.exitStatus.code)
        } catch  where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // ExitCode, ValidationError, CleanExit, and the internal errors of --help (which
            // parsing turns into a command whose run throws them).
            root.exit(withError: error)
        } catch {
            Output.stderr("dbbackup: \(error)")
            Glibc.exit(ExitStatus.failure.code)
        }
    }
}

enum DBBackupVersion {
    static let current = "0.1.0"
}

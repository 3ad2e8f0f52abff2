import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

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
            Run.self, List.self, Restore.self, Confirm.self, RegistryCommand.self, Status.self, Apply.self, PreMigrate.self, Generate.self,
            NotifyFailure.self, PrepareRun.self, AccessCheck.self,
        ]
    )

    /// Installed as /usr/lib/systemd/system-generators/dbbackup-generator (a link to the
    /// binary), it runs as the generator.
    public init() {}

    public static func main() {
        if CommandLine.arguments.first.map({ FileSystem.name(of: $0) }) == "dbbackup-generator" {
            Generate.main(Array(CommandLine.arguments.dropFirst()))
        } else {
            main(GlobalOptions.placedAfterVerb(Array(CommandLine.arguments.dropFirst()), root: self))
        }
    }
}

enum DBBackupVersion {
    static let current = "0.1.0"
}

import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

struct Confirm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm",
        abstract:
            """
            Confirm a suspect backup as right: it then counts as a good backup in retention, and later backups \
            are judged against it.
            """,
        discussion: """
            A backup is suspect when its database is empty, less than half the size of the last good \
            backup, or at an older schema version (a run then exits 65). Until confirmed it never \
            pushes a good backup out of retention. Confirm it when the database is meant to be so \
            (data purged and vacuumed, a deliberate downgrade); otherwise, find out what happened to \
            the database, and restore a good backup if need be.
            """)

    @OptionGroup var globals: GlobalOptions
    @Argument(help: ArgumentHelp("A backup id (see `dbbackup list`), or latest.", valueName: "ID")) var backup: String
    @Option(help: "With latest: the newest backup of this registration.") var registration: String?

    func validate() throws {
        if backup != "latest" && Int64(backup) == nil {
            throw ValidationError("\(backup) is not a backup id; give a number from `dbbackup list`, or latest")
        }
    }

    func run() throws {
        do {
            let registry = try BackupRegistry(path: globals.locations.registryPath)
            let record: BackupRecord
            do {
                record = try Restorer(locations: globals.locations).find(
                    Int64(backup).map { .id($0) } ?? .latest, registration: registration)
            } catch let error as RestoreError {
                throw CLIError(error.message, exitCode: ExitStatus.failure.code)
            }
            guard record.isUnconfirmedSuspect else {
                let state = record.confirmedAt.map { "was confirmed at \($0.rfc3339)" } ?? "is not suspect"
                throw CLIError(
                    """
                    backup \(record.id) (\(record.registration), \(record.createdAt.rfc3339)) \(state); nothing \
                    to confirm
                    """
                )
            }
            try registry.confirm(record.id)
            print(
                """
                confirmed backup \(record.id) (\(record.registration), \(record.createdAt.rfc3339)): it counts as \
                a good backup now, and later backups of \(record.registration) are judged against it
                """
            )
        }
    }
}

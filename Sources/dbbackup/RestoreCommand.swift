import ArgumentParser
import BackupCore
import Foundation

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a backup out to PATH, verified by its SHA-256 and PRAGMA integrity_check, written atomically.",
        discussion: "Stop the application before restoring over its live database (--force).")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "A backup id (see `dbbackup list`), or latest.") var backup: String
    @Option(help: "With latest: the newest backup of this registration.") var registration: String?
    @Option(help: ArgumentHelp("Where to write the database.", valueName: "PATH")) var to: String
    @Flag(help: "Replace PATH if it exists (and remove its -wal/-shm files).") var force = false

    func validate() throws {
        if backup != "latest" && Int64(backup) == nil {
            throw ValidationError("\(backup) is not a backup id; give a number from `dbbackup list`, or latest")
        }
    }

    func run() throws {
        try reportingErrors {
            let restorer = Restorer(locations: globals.locations)
            do {
                let record = try restorer.find(backup == "latest" ? .latest : .id(Int64(backup)!), registration: registration)
                let target = try restorer.restore(record, to: to, force: force)
                print("restored backup \(record.id) (\(record.registration), \(record.createdAt.rfc3339), schema version \(record.version ?? "?")) to \(target); sha256 \(record.sha256 ?? "?") verified, integrity_check ok")
            } catch let error as RestoreError {
                throw CLIError(error.message, exitCode: 1)
            }
        }
    }
}

import ArgumentParser
import BackupCore
import Foundation

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List stored backups from the registry, oldest first.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "Only this registration's backups.") var name: String?
    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        try reportingErrors {
            let backups = try Registry(path: globals.locations.registryPath).storedBackups(registration: name)
            if json {
                try Output.json(backups.map(BackupJSON.object))
                return
            }
            if backups.isEmpty {
                print(name.map { "registration \($0) has no stored backups" } ?? "no stored backups")
                return
            }
            Output.table(["ID", "REGISTRATION", "CREATED", "VERSION", "SIZE", "TRIGGER", "LOCATION"], backups.map {
                [String($0.id), $0.registration, $0.createdAt.rfc3339, $0.version ?? "", Output.size($0.size ?? 0),
                 $0.trigger.rawValue, $0.location?.description ?? ""]
            })
        }
    }
}

/// A backup as scripts see it (JSON keys are part of the command-line contract).
enum BackupJSON {
    static func object(_ record: BackupRecord) -> [String: Any] {
        var object: [String: Any] = [
            "id": record.id,
            "registration": record.registration,
            "provider": record.provider,
            "created_at": record.createdAt.rfc3339,
            // PRAGMA user_version is a number and is written as one; a version query's text stays text.
            "version": record.version.map { version -> Any in Int(version).map { $0 as Any } ?? version } ?? NSNull(),
            "size": record.size ?? NSNull(),
            "sha256": record.sha256 ?? NSNull(),
            "location": record.location?.description ?? NSNull(),
            "trigger": record.trigger.rawValue,
            "state": record.state.rawValue,
        ]
        if let finished = record.finishedAt { object["finished_at"] = finished.rfc3339 }
        return object
    }
}

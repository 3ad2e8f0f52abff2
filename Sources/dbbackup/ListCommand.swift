import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List stored backups from the registry, oldest first.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "Only this registration's backups.") var name: String?
    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        try reportingErrors {
            let backups = try Registry(path: globals.locations.registryPath).storedBackups(registration: name)
            if json {
                Output.json(.array(backups.map(BackupJSON.object)))
                return
            }
            if backups.isEmpty {
                if let name, !globals.store.registrationExists(name) {
                    // Backups of a removed registration stay listed; a name with neither is likely a typo.
                    print("no registration \(name) is configured, and the registry holds no backups of it; see: dbbackup registration list")
                } else {
                    print(name.map { "registration \($0) has no stored backups" } ?? "no stored backups")
                }
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
    static func object(_ record: BackupRecord) -> ConfigValue {
        var object: [String: ConfigValue] = [
            "id": .integer(Int(record.id)),
            "registration": .string(record.registration),
            "provider": .string(record.provider),
            "created_at": .string(record.createdAt.rfc3339),
            // PRAGMA user_version is a number and is written as one; a version query's text stays text.
            "version": record.version.map { version in Int(version).map { .integer($0) } ?? .string(version) } ?? .null,
            "size": .optional(record.size),
            "sha256": .optional(record.sha256),
            "location": .optional(record.location?.description),
            "trigger": .string(record.trigger.rawValue),
            "state": .string(record.state.rawValue),
        ]
        if let finished = record.finishedAt { object["finished_at"] = .string(finished.rfc3339) }
        return .table(object)
    }
}

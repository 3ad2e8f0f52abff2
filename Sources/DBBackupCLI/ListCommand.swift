import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the backups the registry holds, oldest first (in the order they were made).",
        discussion: """
            STATE is stored, suspect (stored, but it looks wrong: see `dbbackup confirm`) or pruning \
            (retention chose it; it still exists until its delete succeeds).
            """)

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "Only this registration's backups.") var name: String?
    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        do {
            let registry = try BackupRegistry(path: globals.locations.registryPath)
            if let warning = registry.recovery?.warning { Output.stderr("warning: \(warning)") }
            let backups = try registry.backups(in: [.stored, .pruning], registration: name)
            if json {
                Output.json(.array(backups.map(BackupJSON.object)))
                return
            }
            if backups.isEmpty {
                if let name, !globals.store.registrationExists(name) {
                    // Backups of a removed registration stay listed; a name with neither is likely a typo.
                    print(
                        """
                        no registration \(name) is configured, and the registry holds no backups of it; see: \
                        dbbackup registration list
                        """
                    )
                } else {
                    print(name.map { "registration \($0) has no stored backups" } ?? "no stored backups")
                }
                return
            }
            Output.table(
                ["ID", "REGISTRATION", "CREATED", "VERSION", "SIZE", "TRIGGER", "STATE", "LOCATION"],
                backups.map {
                    [
                        String($0.id), $0.registration, $0.createdAt.rfc3339, $0.version ?? "",
                        Output.size($0.size ?? 0),
                        $0.trigger.rawValue, BackupJSON.shownState($0), $0.location?.description ?? "",
                    ]
                })
            for suspect in backups where suspect.isUnconfirmedSuspect {
                print(
                    "suspect \(suspect.id): \(suspect.suspect ?? ""); if that is right: dbbackup confirm \(suspect.id)")
            }
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
            "suspect": .optional(record.suspect),
        ]
        // A compressed or encrypted backup: size and sha256 are of the stored bytes, these of the database.
        if let plain = record.plainSHA256 { object["plain_sha256"] = .string(plain) }
        if let plain = record.plainSize { object["plain_size"] = .integer(Int(plain)) }
        if let finished = record.finishedAt { object["finished_at"] = .string(finished.rfc3339) }
        if let confirmed = record.confirmedAt { object["confirmed_at"] = .string(confirmed.rfc3339) }
        if case .object(let address)? = record.location {
            object["endpoint"] = .optional(address.endpoint)
            object["bucket"] = .string(address.bucket)
            object["key"] = .string(address.key)
        }
        return .table(object)
    }

    /// The state as people read it: a stored backup nobody has confirmed yet is `suspect`.
    static func shownState(_ record: BackupRecord) -> String {
        record.state == .stored && record.isUnconfirmedSuspect ? "suspect" : record.state.rawValue
    }
}

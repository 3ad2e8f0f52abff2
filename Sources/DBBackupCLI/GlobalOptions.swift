import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

/// `--config-dir` and `--state-dir`, accepted by every verb.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customLong("config-dir"),
        help: ArgumentHelp("Configuration directory (env DBBACKUP_CONFIG_DIR).", valueName: "DIR"))
    var configDirectory: String?

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp("State directory holding the registry (env DBBACKUP_STATE_DIR).", valueName: "DIR"))
    var stateDirectory: String?

    var locations: Locations {
        let environment = ProcessInfo.processInfo.environment
        return Locations(
            configDirectory: configDirectory ?? environment["DBBACKUP_CONFIG_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                ?? Locations.defaultConfigDirectory,
            stateDirectory: stateDirectory ?? environment["DBBACKUP_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                ?? Locations.defaultStateDirectory)
    }

    var store: ConfigFiles { ConfigFiles(locations: locations) }
    var secrets: SecretFiles { SecretFiles(locations: locations) }
}

extension GlobalOptions {
    private static let names = ["--config-dir", "--state-dir"]

    /// docs/contract.md §8 calls `--config-dir` and `--state-dir` global, so they may also come before the
    /// verb or between its words (`dbbackup --config-dir DIR registration list`).
    /// argument-parser knows them as options of each verb, so they are moved to just after the
    /// verb's last word. Short of a verb that runs, they are dropped and the usage shows as usual.
    static func placedAfterVerb(_ arguments: [String], root: any ParsableCommand.Type) -> [String] {
        var verb: [String] = []
        var globals: [String] = []
        var rest = arguments[...]
        var command = root
        while let word = rest.first {
            if names.contains(word), rest.count >= 2 {
                globals += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if names.contains(where: { word.hasPrefix($0 + "=") }) {
                globals.append(word)
                rest = rest.dropFirst()
            } else if let sub = command.configuration.subcommands.first(where: { $0._commandName == word }) {
                verb.append(word)
                rest = rest.dropFirst()
                command = sub
            } else {
                break
            }
        }
        guard !globals.isEmpty else { return arguments }
        // Only a verb that runs takes options; a group of verbs (or none) shows its usage.
        return verb + (command.configuration.subcommands.isEmpty ? globals : []) + rest
    }
}

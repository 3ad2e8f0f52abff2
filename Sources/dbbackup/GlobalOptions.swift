import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

/// `--config-dir` and `--state-dir`, accepted by every verb.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("config-dir"), help: ArgumentHelp("Configuration directory (env DBBACKUP_CONFIG_DIR).", valueName: "DIR"))
    var configDirectory: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("State directory holding the registry (env DBBACKUP_STATE_DIR).", valueName: "DIR"))
    var stateDirectory: String?

    var locations: Locations {
        let environment = ProcessInfo.processInfo.environment
        return Locations(
            configDirectory: configDirectory ?? environment["DBBACKUP_CONFIG_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? Locations.defaultConfigDirectory,
            stateDirectory: stateDirectory ?? environment["DBBACKUP_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? Locations.defaultStateDirectory)
    }

    var store: ConfigStore { ConfigStore(locations: locations) }
    var secrets: SecretStore { SecretStore(locations: locations) }
}

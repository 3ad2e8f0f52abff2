import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the main configuration: which database to back up and how its schema version is read.",
        discussion: "Retention settings and registrations already configured are kept.")

    @OptionGroup var globals: GlobalOptions

    @Option(help: ArgumentHelp("The SQLite database to protect (relative paths start at the config dir).", valueName: "PATH"))
    var database: String

    @Option(name: .customLong("version-query"), help: ArgumentHelp("SQL returning the schema version (default: PRAGMA user_version).", valueName: "SQL"))
    var versionQuery: String?

    func run() throws {
        try reportingErrors {
            let store = globals.store
            let locations = globals.locations
            // Keep what is there: retention, timeouts, and the version query unless a new one is given.
            let existing = try? store.loadMain()
            var table = existing.map(ConfigCodec.renderMain) ?? [:]
            var databaseTable: [String: ConfigValue] = if case .table(let current)? = table["database"] { current } else { [:] }
            databaseTable["path"] = .string(database)
            if let versionQuery { databaseTable["version_query"] = .string(versionQuery) }
            table["database"] = .table(databaseTable)
            let (config, problems) = ConfigCodec.readMain(table, file: "command line", configDirectory: locations.configDirectory)
            guard let config else {
                throw CLIError.configuration(problems.filter { $0.severity == .error }.map(CommandLineFields.translate))
            }
            try store.saveMain(config)
            try FileSystem.makeDirectories(locations.registrationsDirectory)
            print("wrote \(locations.mainFile): database \(config.database.resolvedPath)")
            if !FileSystem.exists(config.database.resolvedPath) {
                Output.stderr("warning: \(config.database.resolvedPath) does not exist yet; backups fail until it does")
            }
            if existing == nil {
                print("next: dbbackup registration add NAME --provider filesystem --path DIR --schedule migration")
            }
        }
    }
}

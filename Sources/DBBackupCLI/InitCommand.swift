import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write the main configuration: which database to back up and how its schema version is read.",
        discussion: "Retention settings and registrations already configured are kept.")

    @OptionGroup var globals: GlobalOptions

    @Option(
        help: ArgumentHelp(
            "The SQLite database to protect (a relative path starts at the current directory).", valueName: "PATH"))
    var database: String

    @Option(
        help: ArgumentHelp(
            "One SELECT returning the schema version (default, and when left out: PRAGMA user_version).",
            valueName: "SQL"))
    var versionQuery: String?

    func run() throws {
        do {
            let store = globals.store
            let locations = globals.locations
            // Keep what is there: retention and timeouts. The version query is the one given, or
            // PRAGMA user_version (as --help says), so leaving the option out is the way back to it.
            // The file as written: an invalid setting (say retention.local = 16) is reported, not
            // silently reset to its default, which could lower retention and prune backups.
            let existing = try? store.loadMain()
            var table = try store.mainTable() ?? [:]
            var databaseTable: [String: ConfigValue] =
                if case .table(let current)? = table["database"] { current } else { [:] }
            databaseTable["path"] = .string(CommandLineFields.absolutePath(database))
            let previousQuery = existing?.database.versionQuery
            databaseTable["version_query"] = versionQuery.map { .string($0) }
            table["database"] = .table(databaseTable)
            let (config, problems) = ConfigCodec.readMain(
                table, file: locations.display(locations.mainFile), configDirectory: locations.configDirectory)
            guard let config else {
                // What --database and --version-query set is named as those options; anything
                // else wrong is a stored setting, named as it is in the file.
                let given: Set<String> = ["database.path", "database.version_query"]
                throw CLIError.configuration(
                    problems.filter { $0.severity == .error }.map {
                        given.contains($0.field ?? "") ? CommandLineFields.translate($0) : $0
                    })
            }
            if let versionQuery,
                let problem = VersionQuery.problem(versionQuery, onDatabaseAt: config.database.resolvedPath)
            {
                throw CLIError.configuration([
                    ConfigProblem(
                        file: "command line", field: "--version-query", value: "\"\(versionQuery.prefix(80))\"",
                        message: problem, fix: VersionQuery.fix)
                ])
            }
            // A file that is not a database at all: the wrong path, refused before anything is written.
            if LiveDatabase.isSQLite(config.database.resolvedPath) == false {
                throw CLIError.configuration([
                    ConfigProblem(
                        file: "command line", field: "--database", value: "\"\(config.database.resolvedPath)\"",
                        message: "is not an SQLite database (it does not begin with \"SQLite format 3\")",
                        fix: "give the path of the application's database file")
                ])
            }
            try store.saveMain(config)
            try FileSystem.makeDirectories(locations.registrationsDirectory)
            print("wrote \(locations.mainFile): database \(config.database.resolvedPath)")
            if versionQuery == nil, let previousQuery {
                print(
                    "note: the schema version is read with PRAGMA user_version again (was: \(previousQuery.prefix(80)))"
                )
            }
            switch PathAccess.lookup(config.database.resolvedPath) {
            case .missing:
                Output.stderr("warning: \(config.database.resolvedPath) does not exist yet; backups fail until it does")
            case .unreachable(let error):
                Output.stderr(
                    """
                    warning: \(config.database.resolvedPath) cannot be looked at by \
                    \(ProcessIdentity.describe(uid: geteuid())) (\(String(cString: strerror(error)))); check it \
                    with: dbbackup config check (as root)
                    """
                )
            case .found(let info):
                if info.st_size == 0 {
                    Output.stderr(
                        """
                        warning: \(config.database.resolvedPath) is empty (0 bytes); if it is not the application's \
                        database, run init again with the right path (a backup of an empty file is suspect next to \
                        the registration's earlier good backups)
                        """
                    )
                }
                // The services run as the database's owner (the generator's drop-in): say so.
                print(
                    """
                    the backup services run as the database's owner, \
                    \(ProcessIdentity.describe(uid: info.st_uid)), group \
                    \(ProcessIdentity.describe(gid: info.st_gid))
                    """
                )
                if ProcessIdentity.userName(info.st_uid) == nil {
                    Output.stderr(
                        """
                        warning: uid \(info.st_uid), the database's owner, has no user entry, and systemd cannot \
                        run a service as it; give it one (useradd), or chown the database to the application's user
                        """
                    )
                }
            }
            if existing == nil {
                print("next: dbbackup registration add NAME --provider filesystem --path DIR --schedule migration")
            }
            // The drop-ins follow the database (its owner, its directory): the next run needs them.
            Activation.applyAfterChange(globals)
        }
    }
}

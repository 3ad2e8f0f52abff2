import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check, export and import the whole configuration.",
        subcommands: [Check.self, Export.self, Import.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract:
                """
                Report every problem in the configuration at once, warnings too. Exit status 78 (CONFIG) if there \
                are errors.
                """
        )
        @OptionGroup var globals: GlobalOptions
        @Flag(
            help:
                """
                Machine-readable output: {ok, registrations, problems: [{severity, file, field, value, message, \
                fix}]}; same exit status.
                """
        )
        var json = false

        func run() throws {
            do {
                let loaded = globals.store.load()
                let (environment, notes) = ConfigCheck.environment(loaded, globals: globals)
                let problems =
                    loaded.problems + environment
                    + loaded.registrations.flatMap {
                        DaylightSaving.warnings(
                            $0.schedule, file: globals.locations.display(globals.locations.registrationFile($0.name)))
                    }
                let errors = problems.filter { $0.severity == .error }.count
                let warnings = problems.count - errors
                if json {
                    Output.json(
                        .table([
                            "ok": .bool(errors == 0), "registrations": .integer(loaded.registrations.count),
                            "problems": .array(problems.map(\.jsonValue)),
                        ]))
                    if errors > 0 { throw ExitCode(RunFailure.Kind.configuration.exitCode) }
                    return
                }
                for problem in problems { print(problem.description) }
                for note in notes { print(note) }
                GeneratorReport.summary(runtimeDirectory: globals.locations.runtimeDirectory)?.forEach { print($0) }
                if errors > 0 {
                    throw CLIError(
                        "configuration has \(errors) error(s) and \(warnings) warning(s)",
                        exitCode: RunFailure.Kind.configuration.exitCode)
                }
                print("configuration OK: \(loaded.registrations.count) registration(s), \(warnings) warning(s)")
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Print the whole configuration (TOML, or JSON with --json); secret keys only masked.")
        @OptionGroup var globals: GlobalOptions
        @Flag(help: "Machine-readable output.") var json = false

        func run() throws {
            do {
                let loaded = globals.store.load()
                guard loaded.main != nil else { throw CLIError.configuration(loaded.errors) }
                for problem in loaded.errors { Output.stderr("skipped: \(problem.description)") }
                let document = ConfigDocument.render(loaded, secrets: globals.secrets)
                if json {
                    Output.json(.table(document))
                } else {
                    print("# dbbackup configuration, exported \(Timestamp.now().rfc3339). Secret keys are masked;")
                    print("# `dbbackup config import` keeps the stored secret for a masked value.\n")
                    print(ConfigValue.renderTOML(document))
                }
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Apply a configuration exported with `config export` (TOML or JSON).",
            discussion: """
                Everything is validated before anything is written. Tables of the main configuration in \
                FILE replace the configured ones; those it lacks are kept. Registrations in FILE are \
                created or replaced; others are left as they are. A masked secret key keeps the stored secret.
                """)
        @OptionGroup var globals: GlobalOptions
        @Argument(help: "The file to import (- for standard input).") var file: String

        func run() throws {
            do {
                let data: Data
                if file == "-" {
                    data = Data(try FileSystem.readAll("/dev/stdin"))
                } else {
                    guard let contents = FileManager.default.contents(atPath: file) else {
                        throw CLIError("\(file) cannot be read", exitCode: RunFailure.Kind.configuration.exitCode)
                    }
                    data = contents
                }
                let locations = globals.locations
                let store = globals.store
                let imported = try ConfigDocument.parse(
                    String(decoding: data, as: UTF8.self), file: file, configDirectory: locations.configDirectory,
                    current: try? store.loadMain())

                // Resolve every secret before writing anything, so a bad one changes nothing.
                let secrets = globals.secrets
                var resolved: [String: String] = [:]
                var problems: [ConfigProblem] = []
                for (registration, secret) in imported.registrations {
                    guard case .s3(let target) = registration.provider else { continue }
                    if target.settings.usesInstanceCredentials {
                        // The instance's role, never a secret besides (a masked placeholder is fine).
                        if let secret, !SecretFiles.isMasked(secret) {
                            problems.append(
                                ConfigProblem(
                                    file: file, field: "registration \(registration.name): secret_key",
                                    message: "is given, but the registration uses credentials = \"instance\"",
                                    fix: "remove secret_key, or remove credentials to use an access key and this secret"
                                ))
                        }
                        continue
                    }
                    if let secret {
                        do {
                            resolved[registration.name] = try secrets.resolve(
                                supplied: try SecretFiles.normalize(secret), for: registration.name)
                        } catch {  // a SecretError (typed throws)
                            problems.append(
                                ConfigProblem(
                                    file: file, field: "registration \(registration.name): secret_key",
                                    message: error.message))
                        }
                    } else if secrets.secret(for: registration.name) == nil {
                        problems.append(
                            ConfigProblem(
                                file: file, field: "registration \(registration.name): secret_key",
                                message: "is missing and no secret is stored for it",
                                fix:
                                    """
                                    add the secret key, or store it with: dbbackup registration edit \
                                    \(registration.name) --secret-key-stdin
                                    """
                            ))
                    }
                }
                if !problems.isEmpty { throw CLIError.configuration(problems) }

                try store.saveMain(imported.main)
                for (registration, _) in imported.registrations {
                    if let secret = resolved[registration.name] { try secrets.store(secret, for: registration.name) }
                    try store.save(registration)
                    if case .filesystem = registration.provider { try secrets.remove(for: registration.name) }
                    if case .s3(let target) = registration.provider, target.settings.usesInstanceCredentials {
                        try secrets.remove(for: registration.name)
                    }
                }
                let names = Set(imported.registrations.map(\.registration.name))
                print(
                    "imported \(file): database \(imported.main.database.resolvedPath), \(names.count) registration(s)")
                for table in imported.keptTables {
                    print("kept [\(table)] as configured, which \(file) does not have")
                }
                for other in store.registrationNames() where !names.contains(other) {
                    print(
                        """
                        kept registration \(other), which \(file) does not mention (remove it with: dbbackup \
                        registration remove \(other))
                        """
                    )
                }
                for (registration, _) in imported.registrations {
                    if case .filesystem(let target) = registration.provider {
                        BackupDirectorySetup.prepareForService(target.resolvedPath, globals: globals)
                    }
                }
                Activation.applyAfterChange(globals)
            }
        }
    }
}

/// Checks of the configuration against this host: can the services' identity, in their
/// sandbox, read the database and write the backup directories (see `AccessProbe`); will a
/// missing directory be created; is every S3 secret stored; has systemd read this configuration.
enum ConfigCheck {
    static func environment(
        _ loaded: LoadedConfig, globals: GlobalOptions
    ) -> (problems: [ConfigProblem], notes: [String]) {
        let locations = globals.locations
        let secrets = globals.secrets
        var problems: [ConfigProblem] = []
        let mainFile = locations.display(locations.mainFile)
        var checkDatabase = false
        if let main = loaded.main {
            let path = main.database.resolvedPath
            let value = "\"\(main.database.path)\""
            switch PathAccess.lookup(path) {
            case .missing:
                problems.append(
                    ConfigProblem(
                        file: mainFile, field: "database.path", value: value, message: "\(path) does not exist",
                        fix: "point it at the application's SQLite database"))
            case .unreachable(let error):
                // Not "does not exist": this user may simply not look there.
                let blocking = PathAccess.blockingAncestor(of: path).map { ": \($0) does not let it through" } ?? ""
                problems.append(
                    ConfigProblem(
                        file: mainFile, field: "database.path", value: value,
                        message: """
                            \(path) cannot be looked at by \(ProcessIdentity.describe(uid: geteuid())) \
                            (\(String(cString: strerror(error))))\(blocking)
                            """,
                        fix: "run config check as root, which checks as the services' identity"))
            case .found:
                checkDatabase = true
            }
        }
        var checked: [Registration] = []
        for registration in loaded.registrations {
            let file = locations.display(locations.registrationFile(registration.name))
            switch registration.provider {
            case .filesystem(let target):
                let path = target.resolvedPath
                let value = "\"\(target.path)\""
                switch PathAccess.lookup(path) {
                case .found(let info) where (info.st_mode & S_IFMT) == S_IFDIR:
                    checked.append(registration)
                case .found:
                    problems.append(
                        ConfigProblem(
                            file: file, field: "path", value: value, message: "\(path) is not a directory",
                            fix: "point it at a directory"))
                case .unreachable(let error):
                    problems.append(
                        ConfigProblem(
                            file: file, field: "path", value: value,
                            message:
                                """
                                \(path) cannot be looked at by \(ProcessIdentity.describe(uid: geteuid())) \
                                (\(String(cString: strerror(error))))
                                """,
                            fix: "run config check as root, which checks as the services' identity"))
                case .missing:
                    if let problem = missingDirectory(path) {
                        problems.append(
                            ConfigProblem(
                                file: file, field: "path", value: value, message: problem.message, fix: problem.fix))
                    } else {
                        let owner =
                            BackupDirectories.serviceIdentity(database: loaded.main?.database.resolvedPath)
                            .map { " owned by \(ProcessIdentity.describe(uid: $0.uid))" } ?? ""
                        problems.append(
                            ConfigProblem(
                                .warning, file: file, field: "path", value: value,
                                message:
                                    "\(path) does not exist yet; the service creates it\(owner) before its first run"))
                    }
                }
            case .s3(let target):
                if let main = loaded.main,
                    let warning = S3Settings.retentionWarning(registration, retention: main.retention, file: file)
                {
                    problems.append(warning)
                }
                let secretFile = secrets.path(for: registration.name)
                if target.settings.usesInstanceCredentials {
                    if secrets.secret(for: registration.name) != nil {
                        problems.append(
                            ConfigProblem(
                                .warning, file: locations.display(secretFile), field: nil,
                                message:
                                    """
                                    is not used: \(registration.name) signs with the instance's role (credentials \
                                    = \"instance\")
                                    """,
                                fix: "remove it: rm \(secretFile)"))
                    }
                } else if secrets.secret(for: registration.name) == nil {
                    problems.append(
                        ConfigProblem(
                            file: file, field: "secret_key", message: "no secret key is stored for this registration",
                            fix: "store it with: dbbackup registration edit \(registration.name) --secret-key-stdin"))
                } else if let mode = FileSystem.permissions(of: secretFile), mode & 0o066 != 0 {
                    problems.append(
                        ConfigProblem(
                            .warning, file: locations.display(secretFile), field: nil,
                            message: "can be read or changed by group or others (mode 0\(String(mode, radix: 8)))",
                            fix: "chmod 600 \(secretFile)"))
                }
            }
        }
        let report = AccessProbe.run(database: checkDatabase, registrations: checked, globals: globals, loaded: loaded)
        problems += report.problems
        for finding in report.findings where !finding.ok {
            if let name = finding.registration,
                let registration = loaded.registrations.first(where: { $0.name == name }),
                case .filesystem(let target) = registration.provider
            {
                problems.append(
                    ConfigProblem(
                        file: locations.display(locations.registrationFile(name)), field: finding.field,
                        value: "\"\(target.path)\"", message: finding.message))
            } else {
                let value = finding.field == "database.path" ? loaded.main.map { "\"\($0.database.path)\"" } : nil
                problems.append(
                    ConfigProblem(file: mainFile, field: finding.field, value: value, message: finding.message))
            }
        }
        if loaded.main != nil && !loaded.registrations.contains(where: { $0.schedule.kind == .migration }) {
            problems.append(
                ConfigProblem(
                    .warning, file: locations.display(locations.registrationsDirectory), field: nil,
                    message: "no registration has schedule migration: deploys get no backup before a schema migration",
                    fix:
                        """
                        add one, e.g. dbbackup registration add premigrate --provider filesystem --path DIR \
                        --schedule migration
                        """
                ))
        }
        return (problems, report.how)
    }

    /// Why a missing backup directory can never be created (an ancestor that is a file, a
    /// read-only file system), with the fix; nil when root can create it before a run.
    static func missingDirectory(_ path: String) -> (message: String, fix: String)? {
        let ancestor = PathAccess.existingAncestor(of: path)
        if !FileSystem.isDirectory(ancestor) {
            return ("\(ancestor) is not a directory, so \(path) can never be created", "point it at a directory")
        }
        if case .fileSystem(let point)? = PathAccess.readOnly(ancestor) {
            return (
                "\(path) does not exist, and cannot be created: the file system at \(point) is mounted read-only",
                "remount it read-write, or choose another directory"
            )
        }
        return nil
    }
}

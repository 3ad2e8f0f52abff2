import FoundationEssentials
import Glibc
import SystemCalls

/// Everything in the configuration directory, read at once. Broken registration files are
/// reported in `problems` and left out, so one bad file never hides the good ones.
public struct LoadedConfig: Sendable {
    public var main: MainConfig?
    public var registrations: [Registration]
    public var problems: [ConfigProblem]
    /// Registration files that could not be read as registrations. `mayBeMigration`: the file
    /// does not show it is not a migration registration, so a migration run must not report
    /// success without it (a deploy must not go on without its backup).
    public var broken: [(name: String, mayBeMigration: Bool)] = []

    public var errors: [ConfigProblem] { problems.filter { $0.severity == .error } }
    public var warnings: [ConfigProblem] { problems.filter { $0.severity == .warning } }
}

/// Reads and writes the TOML files under the configuration directory.
public struct ConfigFiles: Sendable {
    public let locations: Locations

    public init(locations: Locations) { self.locations = locations }

    public func load() -> LoadedConfig {
        let (main, mainProblems) = readMainFile()
        var problems = mainProblems
        var registrations: [Registration] = []
        var broken: [(String, Bool)] = []
        let entries: [String]
        do {
            entries = try FileSystem.listDirectory(locations.registrationsDirectory)
        } catch  where error.errno == ENOENT {
            entries = []  // not created yet: no registrations
        } catch {
            entries = []
            problems.append(
                ConfigProblem(
                    file: locations.display(locations.registrationsDirectory), field: nil,
                    message:
                        """
                        cannot be read as a directory (\(String(cString: strerror(error.errno)))), so no \
                        registration can be known
                        """,
                    fix:
                        """
                        make \(locations.registrationsDirectory) a directory of NAME.toml files (mkdir -p; remove \
                        a file or a symlink loop in its place)
                        """
                ))
        }
        for name in Self.registrationNames(in: entries) {
            let (registration, fileProblems) = readRegistrationFile(name)
            problems += fileProblems
            if let registration {
                registrations.append(registration)
            } else {
                broken.append((name, mayBeMigration(name)))
            }
        }
        for file in Self.ignoredRegistrationFiles(in: entries) {
            problems.append(
                ConfigProblem(
                    .warning, file: locations.display("\(locations.registrationsDirectory)/\(file)"), field: nil,
                    message: "is ignored: registration files must be named NAME.toml",
                    fix: "rename it to end in .toml, or remove it"))
        }
        return LoadedConfig(main: main, registrations: registrations, problems: problems, broken: broken)
    }

    /// Whether a registration file that failed to load may be a migration registration: unless
    /// it parses and names another schedule type, it may.
    private func mayBeMigration(_ name: String) -> Bool {
        guard let text = try? FileSystem.readText(locations.registrationFile(name), limit: TOMLGuard.maxBytes),
            let table = try? ConfigValue.parseTOML(text, file: name),
            case .table(let schedule)? = table["schedule"], case .string(let type)? = schedule["type"]
        else { return true }
        return type == Schedule.Kind.migration.rawValue || Schedule.Kind(rawValue: type) == nil
    }

    private func readMainFile() -> (MainConfig?, [ConfigProblem]) {
        let file = locations.display(locations.mainFile)
        let text: String
        do {
            text = try FileSystem.readText(locations.mainFile, limit: TOMLGuard.maxBytes)
        } catch {
            return (nil, [Self.unreadable(file, error, fix: "create it with: dbbackup init --database PATH")])
        }
        do {
            let table = try ConfigValue.parseTOML(text, file: file)
            return ConfigCodec.readMain(table, file: file, configDirectory: locations.configDirectory)
        } catch {
            return (nil, [error])
        }
    }

    /// The main file's settings as written, valid or not (nil when there is no file), so that
    /// a command changing one setting can also repair another: `retention set --local 15`
    /// over a stored `local = 16`. Throws only when the file cannot be read or parsed.
    public func mainTable() throws(ConfigErrors) -> [String: ConfigValue]? {
        let file = locations.display(locations.mainFile)
        do {
            let text = try FileSystem.readText(locations.mainFile, limit: TOMLGuard.maxBytes)
            return try ConfigValue.parseTOML(text, file: file)
        } catch let error as SystemError where error.errno == ENOENT {
            return nil
        } catch let error as SystemError {
            throw ConfigErrors([Self.unreadable(file, error, fix: "create it with: dbbackup init --database PATH")])
        } catch let problem as ConfigProblem {
            throw ConfigErrors([problem])
        } catch {
            throw ConfigErrors([ConfigProblem(file: file, field: nil, message: "\(error)")])
        }
    }

    /// The main configuration, or every error in it.
    public func loadMain() throws(ConfigErrors) -> MainConfig {
        let (main, problems) = readMainFile()
        guard let main else { throw ConfigErrors(problems.filter { $0.severity == .error }) }
        return main
    }

    public func saveMain(_ config: MainConfig) throws {
        try FileSystem.makeDirectories(locations.configDirectory)
        let header = """
            # dbbackup main configuration. See `man dbbackup` or README "Configuration".
            # Written by the dbbackup command line; hand edits are welcome, but the CLI rewrites
            # this file without comments.

            """
        try FileSystem.writeAtomically(
            Array((header + ConfigValue.renderTOML(ConfigCodec.renderMain(config))).utf8),
            to: locations.mainFile, mode: 0o644)
    }

    /// Why a configuration file could not be read, said as it is: missing, too large, or not
    /// readable by this user (never "does not exist" for a permission problem).
    static func unreadable(_ file: String, _ error: SystemError, fix missingFix: String) -> ConfigProblem {
        switch error.errno {
        case ENOENT: ConfigProblem(file: file, field: nil, message: "does not exist", fix: missingFix)
        case EFBIG: TOMLGuard.tooLarge(file: file)
        case EACCES, EPERM:
            ConfigProblem(
                file: file, field: nil, message: "cannot be read by this user (uid \(getuid())): permission denied",
                fix: "run as root, or check the owner and mode of \(error.path) and its directories")
        default: ConfigProblem(file: file, field: nil, message: "cannot be read: \(error)", fix: "check the file")
        }
    }

    /// Names of `registrations.d/*.toml`, sorted.
    public func registrationNames() -> [String] {
        Self.registrationNames(in: (try? FileSystem.listDirectory(locations.registrationsDirectory)) ?? [])
    }

    private static func registrationNames(in entries: [String]) -> [String] {
        entries.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }

    private static func ignoredRegistrationFiles(in entries: [String]) -> [String] {
        // Editors' and dpkg's leftovers are expected; anything else deserves a word.
        return entries.filter {
            !$0.hasSuffix(".toml") && !$0.hasPrefix(".") && !$0.hasSuffix("~")
                && !$0.contains(".dpkg-") && !$0.hasSuffix(".swp")
        }.sorted()
    }

    public func registrationExists(_ name: String) -> Bool { FileSystem.exists(locations.registrationFile(name)) }

    public func readRegistrationFile(_ name: String) -> (Registration?, [ConfigProblem]) {
        let path = locations.registrationFile(name)
        let file = locations.display(path)
        let text: String
        do {
            text = try FileSystem.readText(path, limit: TOMLGuard.maxBytes)
        } catch {
            return (nil, [Self.unreadable(file, error, fix: "see: dbbackup registration list")])
        }
        do {
            let table = try ConfigValue.parseTOML(text, file: file)
            return ConfigCodec.readRegistration(
                table, name: name, file: file, configDirectory: locations.configDirectory)
        } catch {
            return (nil, [error])
        }
    }

    /// One registration, or every error in its file.
    public func registration(named name: String) throws(ConfigErrors) -> Registration {
        if let problem = RegistrationName.problem(name) {
            throw ConfigErrors([
                ConfigProblem(
                    file: "command line", field: "NAME", value: name, message: problem,
                    fix: "use \(RegistrationName.rule)")
            ])
        }
        let (registration, problems) = readRegistrationFile(name)
        guard let registration else { throw ConfigErrors(problems.filter { $0.severity == .error }) }
        return registration
    }

    public func save(_ registration: Registration) throws {
        try FileSystem.makeDirectories(locations.registrationsDirectory)
        let header = """
            # dbbackup registration "\(registration.name)": \(registration.schedule.summary), to \
            \(registration.provider.kind).
            # Written by the dbbackup command line; hand edits are welcome, but `registration edit`
            # rewrites this file without comments. The S3 secret key is never kept here.

            """
        let body = ConfigValue.renderTOML(ConfigCodec.renderRegistration(registration))
        try FileSystem.writeAtomically(
            Array((header + body).utf8), to: locations.registrationFile(registration.name), mode: 0o644)
    }

    public func remove(_ name: String) throws {
        try FileSystem.unlinkIfPresent(locations.registrationFile(name))
        try FileSystem.fsyncDirectory(locations.registrationsDirectory)
    }
}

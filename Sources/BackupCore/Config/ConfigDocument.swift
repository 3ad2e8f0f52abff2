import FoundationEssentials
import Glibc

/// The whole configuration as one document: what `config export` writes and `config import`
/// reads (JSON or TOML), and the registration objects of `registration list/show --json`.
/// Secrets appear only masked.
public enum ConfigDocument {
    /// A registration as users see it (JSON keys are part of the command-line contract).
    public static func render(
        _ registration: Registration, secrets: SecretFiles, resolvedPath: Bool = false
    ) -> [String: ConfigValue] {
        var table = ConfigCodec.renderRegistration(registration)
        table["name"] = .string(registration.name)
        switch registration.provider {
        case .filesystem(let target):
            if resolvedPath { table["resolved_path"] = .string(target.resolvedPath) }
        case .s3:
            table["secret_key"] = secrets.secret(for: registration.name).map { .string(SecretFiles.mask($0)) } ?? .null
        }
        return table
    }

    public static func render(_ config: LoadedConfig, secrets: SecretFiles) -> [String: ConfigValue] {
        var document = config.main.map(ConfigCodec.renderMain) ?? [:]
        document["registrations"] = .array(config.registrations.map { .table(render($0, secrets: secrets)) })
        return document
    }

    /// A document read for import: the main configuration, each registration with the secret
    /// it carries (masked or real), or every problem found.
    public struct Imported: Sendable {
        public var main: MainConfig
        public var registrations: [(registration: Registration, secret: String?)]
        /// Tables of the main configuration the document lacks, kept as configured.
        public var keptTables: [String]
    }

    /// `current`: the main configuration in place. A table the document lacks (`[retention]`,
    /// say) keeps its configured values rather than falling back to defaults: a partial
    /// document must not lower retention and so prune stored backups.
    public static func parse(
        _ text: String, file: String, configDirectory: String, current: MainConfig? = nil
    ) throws(ConfigErrors) -> Imported {
        let document: [String: ConfigValue]
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.hasPrefix("{") {
            guard case .table(let table)? = try? ConfigValue.parseJSON(text) else {
                throw ConfigErrors([
                    ConfigProblem(
                        file: file, field: nil, message: "is not valid JSON",
                        fix: "use the output of: dbbackup config export --json")
                ])
            }
            document = table
        } else {
            do {
                document = try ConfigValue.parseTOML(text, file: file)
            } catch {
                throw ConfigErrors([error])
            }
        }
        var problems: [ConfigProblem] = []
        var mainTable = document
        mainTable.removeValue(forKey: "registrations")
        var keptTables: [String] = []
        let configured = current.map(ConfigCodec.renderMain) ?? [:]
        for (key, value) in configured where mainTable[key] == nil {
            mainTable[key] = value
            keptTables.append(key)
        }
        let (main, mainProblems) = ConfigCodec.readMain(
            mainTable, file: file, configDirectory: configDirectory, imported: true)
        problems += mainProblems

        var registrations: [(Registration, String?)] = []
        var seen: Set<String> = []
        let items: [ConfigValue]
        switch document["registrations"] {
        case nil, .null?: items = []
        case .array(let list)?: items = list
        case let other?:
            problems.append(
                ConfigProblem(
                    file: file, field: "registrations", value: other.written, message: "must be a list of registrations"
                ))
            items = []
        }
        for (index, item) in items.enumerated() {
            let field = "registrations[\(index)]"
            guard case .table(var table) = item else {
                problems.append(ConfigProblem(file: file, field: field, message: "must be a table"))
                continue
            }
            guard case .string(let name)? = table["name"] else {
                problems.append(
                    ConfigProblem(
                        file: file, field: "\(field).name", message: "is missing", fix: "give each registration a name")
                )
                continue
            }
            if !seen.insert(name).inserted {
                problems.append(
                    ConfigProblem(
                        file: file, field: "\(field).name", value: "\"\(name)\"",
                        message: "is used by two registrations", fix: "registration names must be unique"))
                continue
            }
            var secret: String?
            switch table["secret_key"] {
            case .string(let value)?: secret = value
            case nil, .null?: secret = nil
            case let other?:
                problems.append(
                    ConfigProblem(
                        file: file, field: "\(field).secret_key", value: nil,
                        message: "must be a string, not \(other.typeName)"))
            }
            table.removeValue(forKey: "resolved_path")
            let (registration, registrationProblems) = ConfigCodec.readRegistration(
                table, name: name, file: "\(file) \(field)", configDirectory: configDirectory,
                extraKeys: ["name", "secret_key"])
            problems += registrationProblems
            if let registration {
                if case .filesystem = registration.provider, secret != nil {
                    problems.append(
                        ConfigProblem(
                            file: file, field: "\(field).secret_key",
                            message: "only s3 registrations have a secret key", fix: "remove it"))
                }
                registrations.append((registration, secret))
            }
        }
        let errors = problems.filter { $0.severity == .error }
        guard errors.isEmpty, let main else { throw ConfigErrors(errors) }
        return Imported(main: main, registrations: registrations, keptTables: keptTables.sorted())
    }
}

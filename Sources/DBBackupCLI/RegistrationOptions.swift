import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

/// The options of `registration add` and `registration edit`. Given values are laid over a
/// registration's table and validated by the same reader as the files, so the command line
/// and hand-edited files accept and reject exactly the same things.
struct RegistrationOptions: ParsableArguments {
    @Option(help: "Where backups go: filesystem or s3.")
    var provider: String?

    @Option(
        help: ArgumentHelp(
            "filesystem: the backup directory (a relative path starts at the current directory).", valueName: "DIR"))
    var path: String?

    @Option(help: "s3: the bucket (must already exist).")
    var bucket: String?

    @Option(help: ArgumentHelp("s3: endpoint URL; empty for AWS.", valueName: "URL"))
    var endpoint: String?

    @Option(help: "s3: region (optional for non-AWS stores; default us-east-1).")
    var region: String?

    @Flag(inversion: .prefixedNo, help: "s3: path-style addressing (MinIO and most local stores need it).")
    var forcePathStyle: Bool?

    @Option(help: "s3: folder in the bucket, e.g. app/backups (a trailing / is implied).")
    var prefix: String?

    @Option(help: "s3: access key id.")
    var accessKey: String?

    @Flag(help: "s3: read the secret key from standard input (one line).")
    var secretKeyStdin = false

    @Option(help: ArgumentHelp("s3: read the secret key from a file.", valueName: "FILE"))
    var secretKeyFile: String?

    @OptionGroup var s3: S3RegistrationOptions

    @Option(help: "migration, daily, weekly or monthly.")
    var schedule: String?

    @Option(
        name: .customLong("time"), parsing: .upToNextOption,
        help: ArgumentHelp("Time of day, 24-hour HH:MM; repeatable.", valueName: "HH:MM"))
    var times: [String] = []

    @Option(
        name: .customLong("weekday"), parsing: .upToNextOption,
        help: ArgumentHelp("weekly: mon tue wed thu fri sat sun; repeatable.", valueName: "DAY"))
    var weekdays: [String] = []

    @Option(
        name: .customLong("day"), parsing: .upToNextOption,
        help: ArgumentHelp("monthly: day of the month 1-31; repeatable.", valueName: "N"))
    var days: [String] = []

    @Option(help: ArgumentHelp("IANA time zone, e.g. Europe/Prague; default: the host's local time.", valueName: "TZ"))
    var timezone: String?

    @Option(
        help: ArgumentHelp(
            """
            Ping this URL on start (URL/start), success (URL) and failure (URL/fail), healthchecks-style; '' for \
            none, even with a global [monitoring] heartbeat_url.
            """,
            valueName: "URL"))
    var heartbeatURL: String?

    @Option(
        help: ArgumentHelp(
            "zstd compresses backups (names end .db.zst); none stores them plain (the default).", valueName: "zstd|none"
        ))
    var compression: String?

    @Option(help: ArgumentHelp("zstd level, 1-19 (default 3).", valueName: "N"))
    var compressionLevel: String?

    @Option(
        name: .customLong("recipient"),
        help: ArgumentHelp(
            "Encrypt backups with age to this public key (names end .age); repeatable; replaces the stored list.",
            valueName: "age1…"))
    var recipients: [String] = []

    @Option(
        help: ArgumentHelp(
            """
            Encrypt backups to the age public keys in FILE, one a line, read whenever the configuration is \
            loaded; \"\" removes it.
            """,
            valueName: "FILE"))
    var recipientsFile: String?

    @Flag(help: "Store backups unencrypted from now on (removes the recipients).")
    var noEncryption = false

    func validate() throws {
        if secretKeyStdin && secretKeyFile != nil {
            throw ValidationError(
                "give the secret key either with --secret-key-stdin or with --secret-key-file, not both")
        }
        if noEncryption && (!recipients.isEmpty || recipientsFile != nil) {
            throw ValidationError("give either --no-encryption or --recipient/--recipients-file, not both")
        }
    }

    /// The settings these options set, by their names in a registration file.
    var givenFields: Set<String> {
        let given: [(String, Bool)] = [
            ("provider", provider != nil), ("path", path != nil), ("bucket", bucket != nil),
            ("endpoint", endpoint != nil),
            ("region", region != nil), ("prefix", prefix != nil), ("access_key", accessKey != nil),
            ("force_path_style", forcePathStyle != nil),
            ("schedule.type", schedule != nil), ("schedule.times", !times.isEmpty),
            ("schedule.weekdays", !weekdays.isEmpty),
            ("schedule.days", !days.isEmpty), ("schedule.timezone", timezone != nil),
            ("heartbeat_url", heartbeatURL != nil),
            ("compression", compression != nil), ("compression_level", compressionLevel != nil),
            ("encryption", noEncryption),
            ("encryption.recipients", !recipients.isEmpty), ("encryption.recipients_file", recipientsFile != nil),
        ]
        return Set(given.filter(\.1).map(\.0)).union(s3.givenFields)
    }

    var changesSchedule: Bool {
        schedule != nil || !times.isEmpty || !weekdays.isEmpty || !days.isEmpty || timezone != nil
    }

    /// Lays the given options over `base` (an existing registration's table, or empty).
    func apply(to base: [String: ConfigValue]) -> [String: ConfigValue] {
        var table = base
        if let provider, provider != (base["provider"].flatMap { if case .string(let s) = $0 { s } else { nil } }) {
            // Switching provider: the old provider's fields no longer apply.
            for key in ["path", "bucket", "endpoint", "region", "force_path_style", "prefix", "access_key"]
                + S3Settings.fields
            { table.removeValue(forKey: key) }
            table["provider"] = .string(provider)
        }
        let strings: [(String, String?)] = [
            ("path", path.map(CommandLineFields.absolutePath)), ("bucket", bucket), ("endpoint", endpoint),
            ("region", region),
            ("prefix", prefix), ("access_key", accessKey), ("heartbeat_url", heartbeatURL),
        ]
        for (key, value) in strings { if let value { table[key] = .string(value) } }
        if let forcePathStyle { table["force_path_style"] = .bool(forcePathStyle) }
        s3.apply(to: &table, accessKeyGiven: accessKey != nil)

        if changesSchedule {
            var scheduleTable: [String: ConfigValue] =
                if case .table(let existing)? = base["schedule"] { existing } else { [:] }
            if let schedule,
                schedule != (scheduleTable["type"].flatMap { if case .string(let s) = $0 { s } else { nil } })
            {
                // A new kind of schedule drops what only the old kind uses (weekdays, days); a
                // timed one keeps the times and the timezone unless new ones are given.
                let kept =
                    schedule == "migration" ? [:] : scheduleTable.filter { ["times", "timezone"].contains($0.key) }
                scheduleTable = kept.merging(["type": .string(schedule)]) { $1 }
            }
            if !times.isEmpty { scheduleTable["times"] = .array(times.map { .string($0) }) }
            if !weekdays.isEmpty { scheduleTable["weekdays"] = .array(weekdays.map { .string($0) }) }
            // A day that is not a number goes in as text, for the validation to report with the rest.
            if !days.isEmpty {
                scheduleTable["days"] = .array(days.map { text in Int(text).map { .integer($0) } ?? .string(text) })
            }
            if let timezone { scheduleTable["timezone"] = .string(timezone) }
            table["schedule"] = .table(scheduleTable)
        }
        applyEncoding(to: &table)
        return table
    }

    /// Compression and encryption: `none` and `--no-encryption` remove their settings; a
    /// level that is not a number goes in as text, for the validation to report.
    private func applyEncoding(to table: inout [String: ConfigValue]) {
        if compression == "none" {
            table.removeValue(forKey: "compression")
            table.removeValue(forKey: "compression_level")
        } else if let compression {
            table["compression"] = .string(compression)
        }
        if let compressionLevel {
            table["compression_level"] = Int(compressionLevel).map { .integer($0) } ?? .string(compressionLevel)
        }
        if noEncryption { table.removeValue(forKey: "encryption") }
        guard !recipients.isEmpty || recipientsFile != nil else { return }
        var encryption: [String: ConfigValue] =
            if case .table(let existing)? = table["encryption"] { existing } else { [:] }
        if !recipients.isEmpty { encryption["recipients"] = .array(recipients.map { .string($0) }) }
        if recipientsFile == "" {
            encryption.removeValue(forKey: "recipients_file")
        } else if let recipientsFile {
            encryption["recipients_file"] = .string(CommandLineFields.absolutePath(recipientsFile))
        }
        table["encryption"] = .table(encryption)
    }

    /// The secret given on stdin or in a file, if any.
    func suppliedSecret() throws -> String? {
        try Self.readSecret(fromStandardInput: secretKeyStdin, file: secretKeyFile)
    }

    /// Reads a secret key given with --secret-key-stdin or --secret-key-file (one line).
    static func readSecret(fromStandardInput: Bool, file: String?) throws -> String? {
        let option = fromStandardInput ? "--secret-key-stdin" : "--secret-key-file"
        let failure = { (message: String) in
            CLIError.commandLine("\(option): \(message)", field: option, message: message)
        }
        guard let source = fromStandardInput ? "/dev/stdin" : file else { return nil }
        let raw: String
        do {
            raw = String(decoding: try FileSystem.readAll(source), as: UTF8.self)
        } catch {
            throw failure("\(error)")
        }
        do {
            return try SecretFiles.normalize(raw)
        } catch {
            throw failure(error.message)
        }
    }
}

/// Config field names as the command line spells them, so errors name the option to fix.
enum CommandLineFields {
    static let names: [(String, String)] =
        [
            ("database.path", "--database"), ("database.version_query", "--version-query"),
            ("retention.local", "--local"), ("retention.remote", "--remote"),
            ("schedule.type", "--schedule"), ("schedule.times", "--time"), ("schedule.weekdays", "--weekday"),
            ("schedule.days", "--day"), ("schedule.timezone", "--timezone"), ("schedule", "--schedule"),
            ("force_path_style", "--force-path-style"), ("access_key", "--access-key"), ("provider", "--provider"),
            ("path", "--path"), ("bucket", "--bucket"), ("endpoint", "--endpoint"), ("region", "--region"),
            ("prefix", "--prefix"),
            ("heartbeat_url", "--heartbeat-url"),
            ("compression", "--compression"), ("compression_level", "--compression-level"),
            ("encryption.recipients_file", "--recipients-file"), ("encryption.recipients", "--recipient"),
            ("encryption", "--recipient"),
        ] + S3RegistrationOptions.fieldNames

    /// For a change to stored settings (`registration edit`, `retention set`): errors name the
    /// options, since this command must change to fix them; a warning about a setting not
    /// `given` is about what is stored, so it names that setting in `storedFile`.
    static func translate(_ problems: [ConfigProblem], given: Set<String>, storedFile: String) -> [ConfigProblem] {
        problems.map { problem in
            guard problem.severity == .warning, let field = problem.field,
                !given.contains(where: { Self.field(field, isWithin: $0) })
            else {
                return translate(problem)
            }
            return ConfigProblem(
                .warning, file: storedFile, field: field, value: problem.value, message: problem.message,
                fix: problem.fix)
        }
    }

    /// `schedule.days[2]` and `schedule.days` are within `schedule.days`; `schedule` holds both.
    private static func field(_ field: String, isWithin name: String) -> Bool {
        field == name || field.hasPrefix(name + "[") || field.hasPrefix(name + ".")
    }

    /// A path given as an option: a relative one starts at the current directory, as for any
    /// command (in a file it would start at the configuration directory), and is stored
    /// absolute. An empty one stays empty, for the validation to refuse.
    static func absolutePath(_ path: String) -> String {
        path.isEmpty ? path : FileSystem.absolute(path, relativeTo: FileManager.default.currentDirectoryPath)
    }

    static func translate(_ problem: ConfigProblem) -> ConfigProblem {
        guard let field = problem.field else { return problem }
        var renamed = field
        for (configName, option) in names where Self.field(field, isWithin: configName) {
            renamed = option + field.dropFirst(configName.count)
            break
        }
        let fix = problem.fix.map { fix in
            fix.hasPrefix("add e.g. ") || fix.hasPrefix("add it, e.g.")
                ? "give \(renamed)" : options(in: fix, besides: field)
        }
        return ConfigProblem(
            problem.severity, file: "command line", field: renamed, value: problem.value, message: problem.message,
            fix: fix)
    }

    /// A fix written as a configuration setting (`use type = "weekly"`) reads as the option that
    /// sets it (`use --schedule weekly`). The key is a field of the same table as `field`.
    private static func options(in fix: String, besides field: String) -> String {
        let table = field.prefix { $0 != "[" }.split(separator: ".").dropLast().joined(separator: ".")
        return fix.replacing(/([a-z_]+) = ("[^"]*"|\[[^\]]*\]|[0-9]+)/) { match in
            let key = String(match.output.1)
            guard let option = names.first(where: { $0.0 == (table.isEmpty ? key : "\(table).\(key)") })?.1 else {
                return String(match.output.0)
            }
            let values = match.output.2.filter { !"[]\"".contains($0) }.split(separator: ",").map(\.trimmed)
            return ([option] + values).joined(separator: " ")
        }
    }
}

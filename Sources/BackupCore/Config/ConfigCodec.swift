import FoundationEssentials
import Glibc

/// Turns configuration tables into validated values and back. One reader serves the files
/// in /etc/dbbackup and documents given to `config import`, so both report the same errors.
public enum ConfigCodec {
    // MARK: main file

    /// `imported`: the table is a document given to `config import` (with the configured
    /// tables it lacks already filled in), so a missing database is the document's fault.
    public static func readMain(
        _ table: [String: ConfigValue], file: String, configDirectory: String,
        imported: Bool = false
    ) -> (MainConfig?, [ConfigProblem]) {
        let sink = ProblemSink(file: file)
        var root = TableReader(table, sink: sink)
        var database: DatabaseSettings?
        if table["database"] == nil {
            root.accept("database")
            if imported {
                sink.error(
                    "database", nil, "is missing: \(file) has no [database] table, and none is configured yet",
                    fix: "add it as `dbbackup config export` writes it, e.g. [database] path = \"/var/lib/app/app.db\"")
            } else {
                sink.error(
                    "database.path", nil, "is not set: dbbackup is not configured yet",
                    fix: "run: dbbackup init --database PATH")
            }
        }
        if var section = root.table("database", example: "{ path = \"/var/lib/app/app.db\" }") {
            if section.table["path"] == nil {
                if imported {
                    sink.error(
                        "database.path", nil, "is missing",
                        fix: "add the path of the SQLite database to back up, e.g. path = \"/var/lib/app/app.db\"")
                } else {
                    sink.error(
                        "database.path", nil, "is not set: dbbackup is not configured yet",
                        fix: "run: dbbackup init --database PATH")
                }
            }
            let path = section.string("path", example: "\"/var/lib/app/app.db\"")
            let query = section.string("version_query", example: "\"SELECT max(version) FROM schema_migrations\"")
            let busy = section.integer("busy_timeout", example: "30")
            let lock = section.integer("lock_timeout", example: "600")
            let pace = section.integer("pace_mib_per_second", example: "128")
            section.rejectUnknownKeys()
            if let path, path.isEmpty {
                sink.error("database.path", "\"\"", "is empty", fix: "set the path of the SQLite database to back up")
            }
            if let path, hasControlCharacters(path) {
                sink.error(
                    "database.path", nil, "contains a line break or control character", fix: "give a plain file path")
            }
            if let path, let problem = pathLengthProblem(path) {
                sink.error("database.path", nil, problem, fix: "give the database's real path")
            }
            if let query, query.trimmed.isEmpty {
                sink.error(
                    "database.version_query", "\"\"", "is empty",
                    fix: "remove it to use PRAGMA user_version, or give a query returning one value")
            }
            for (key, value) in [("busy_timeout", busy), ("lock_timeout", lock)] {
                if let value, !(1...86_400).contains(value) {
                    sink.error("database.\(key)", String(value), "must be between 1 and 86400 seconds")
                }
            }
            if let pace, !(0...100_000).contains(pace) {
                sink.error(
                    "database.pace_mib_per_second", String(pace), "must be between 0 and 100000 MiB/s",
                    fix: "e.g. 128; 0 writes directory backups at full speed even while the application writes")
            }
            if let path, !path.isEmpty {
                database = DatabaseSettings(
                    path: path, configDirectory: configDirectory, versionQuery: query,
                    busyTimeoutSeconds: busy ?? DatabaseSettings.defaultBusyTimeout,
                    lockTimeoutSeconds: lock ?? DatabaseSettings.defaultLockTimeout,
                    paceMiBPerSecond: pace ?? DatabaseSettings.defaultPace)
            }
        }
        var retention = Retention()
        if var section = root.table("retention", example: "{ local = 7, remote = 14 }") {
            if let local = section.integer("local", example: "7") {
                if (0...Retention.maxLocal).contains(local) {
                    retention.local = local
                } else {
                    sink.error(
                        "retention.local", String(local), "must be between 0 and \(Retention.maxLocal)",
                        fix: "keep at most 15 local backups per registration; 0 turns automatic cleanup off")
                }
            }
            switch section.raw("remote") {
            case nil: break
            case .integer(let count) where count >= 0: retention.remote = .count(count)
            case .string("unlimited"): retention.remote = .unlimited
            case let other?:
                sink.error(
                    "retention.remote", other.written, "must be a number of backups (0 or more) or \"unlimited\"",
                    fix: "e.g. remote = 30")
            }
            section.rejectUnknownKeys()
        }
        var onFailure: [String] = []
        if var section = root.table("notify", example: "{ on_failure = [\"/usr/local/bin/page-oncall\"] }") {
            onFailure =
                section.strings("on_failure", example: "[\"/usr/bin/logger\", \"-p\", \"user.err\", \"backup failed\"]")
                ?? []
            section.rejectUnknownKeys()
            if let program = onFailure.first, !program.hasPrefix("/") {
                sink.error(
                    "notify.on_failure[0]", "\"\(program)\"",
                    "must be an absolute path (the command runs without a shell or PATH)",
                    fix: "e.g. on_failure = [\"/usr/bin/logger\", \"backup failed\"]")
            }
        }
        var s3 = S3Transfer()
        if var section = root.table("s3", example: "{ multipart_threshold_mib = 1024 }") {
            for setting in s3.numbers {
                guard let value = section.integer(setting.key, example: String(setting.value)) else { continue }
                if setting.range.contains(value) {
                    s3.set(setting.key, value)
                } else {
                    sink.error(
                        "s3.\(setting.key)", String(value),
                        "must be between \(setting.range.lowerBound) and \(setting.range.upperBound)")
                }
            }
            s3.caBundle = section.string("ca_bundle", example: "\"/etc/ssl/certs/my-store.pem\"")
            section.rejectUnknownKeys()
        }
        let monitoring = MonitorSettings.read(&root, sink: sink)
        root.rejectUnknownKeys()
        if retention.local == 0 {
            sink.warning(
                "retention.local", "0", "local backups are never cleaned up automatically",
                fix: "set a limit of 1-15 unless you prune them yourself")
        }
        if retention.remote.keep == nil {
            sink.warning(
                "retention.remote", retention.remote.description, "remote backups are never cleaned up automatically",
                fix: "set a limit unless the bucket has its own lifecycle rule")
        }
        guard !sink.hasErrors, let database else { return (nil, sink.problems) }
        var main = MainConfig(database: database, retention: retention, onFailure: onFailure, s3: s3)
        main.monitoring = monitoring
        return (main, sink.problems)
    }

    public static func renderMain(_ config: MainConfig) -> [String: ConfigValue] {
        var database: [String: ConfigValue] = ["path": .string(config.database.path)]
        if let query = config.database.versionQuery { database["version_query"] = .string(query) }
        if config.database.busyTimeoutSeconds != DatabaseSettings.defaultBusyTimeout {
            database["busy_timeout"] = .integer(config.database.busyTimeoutSeconds)
        }
        if config.database.lockTimeoutSeconds != DatabaseSettings.defaultLockTimeout {
            database["lock_timeout"] = .integer(config.database.lockTimeoutSeconds)
        }
        if config.database.paceMiBPerSecond != DatabaseSettings.defaultPace {
            database["pace_mib_per_second"] = .integer(config.database.paceMiBPerSecond)
        }
        let remote: ConfigValue =
            switch config.retention.remote {
            case .count(let count): .integer(count)
            case .unlimited: .string("unlimited")
            }
        var table: [String: ConfigValue] = [
            "database": .table(database),
            "retention": .table(["local": .integer(config.retention.local), "remote": remote]),
        ]
        if !config.onFailure.isEmpty {
            table["notify"] = .table(["on_failure": .array(config.onFailure.map { .string($0) })])
        }
        let defaults = S3Transfer().numbers
        var s3: [String: ConfigValue] = [:]
        for (setting, standard) in zip(config.s3.numbers, defaults) where setting.value != standard.value {
            s3[setting.key] = .integer(setting.value)
        }
        if let bundle = config.s3.caBundle { s3["ca_bundle"] = .string(bundle) }
        if !s3.isEmpty { table["s3"] = .table(s3) }
        MonitorSettings.render(config.monitoring, into: &table)
        return table
    }

    // MARK: registrations

    /// Reads one registration. `name` comes from the file name (or from the `name` field of an
    /// imported document, which the caller reads). Keys in `extraKeys` are left to the caller.
    public static func readRegistration(
        _ table: [String: ConfigValue], name: String, file: String,
        configDirectory: String, extraKeys: [String] = []
    ) -> (Registration?, [ConfigProblem]) {
        let sink = ProblemSink(file: file)
        var root = TableReader(table, sink: sink)
        for key in extraKeys { root.accept(key) }
        if let problem = RegistrationName.problem(name) {
            sink.error(
                "name", "\"\(name.debugDescription.dropFirst().dropLast())\"", problem,
                fix: "use \(RegistrationName.rule)")
        }
        if table["secret_key"] != nil && !extraKeys.contains("secret_key") {
            root.accept("secret_key")
            sink.error(
                "secret_key", nil, "secret keys are not kept in registration files",
                fix: "remove the line and store the secret with: dbbackup registration edit \(name) --secret-key-stdin")
        }
        let provider = readProvider(&root, sink: sink, configDirectory: configDirectory)
        let schedule = readSchedule(&root, sink: sink)
        let heartbeat = MonitorSettings.readHeartbeat(&root, sink: sink)
        let encoding = EncodingSettings.read(&root, sink: sink, configDirectory: configDirectory)
        root.rejectUnknownKeys()
        guard !sink.hasErrors, let provider, let schedule, let encoding else { return (nil, sink.problems) }
        var registration = Registration(name: name, provider: provider, schedule: schedule, encoding: encoding)
        registration.heartbeatURL = heartbeat
        return (registration, sink.problems)
    }

    private static func readProvider(
        _ root: inout TableReader, sink: ProblemSink, configDirectory: String
    ) -> Registration.Provider? {
        let kind = root.string("provider", required: true, example: "\"filesystem\"")
        // Read every provider's fields so that a field of the wrong provider is reported as such.
        let path = root.string("path", example: "\"/var/backups/app\"")
        let bucket = root.string("bucket", example: "\"my-backups\"")
        let endpoint = root.string("endpoint", example: "\"http://127.0.0.1:9000\"")
        let region = root.string("region", example: "\"us-east-1\"")
        let forcePathStyle = root.bool("force_path_style")
        let prefix = root.string("prefix", example: "\"app/\"")
        let accessKey = root.string("access_key", example: "\"AKIA…\"")
        let (s3Settings, s3SettingsGiven) = S3Settings.read(&root, sink: sink)
        let s3Fields =
            [
                ("bucket", bucket != nil), ("endpoint", endpoint != nil), ("region", region != nil),
                ("force_path_style", forcePathStyle != nil), ("prefix", prefix != nil),
                ("access_key", accessKey != nil),
            ]
            + s3SettingsGiven.map { ($0, true) }
        switch kind {
        case nil:
            return nil
        case "filesystem":
            for (field, present) in s3Fields where present {
                sink.error(
                    field, nil, "belongs to the s3 provider, not filesystem", fix: "remove it, or use provider = \"s3\""
                )
            }
            guard let path else {
                sink.error(
                    "path", nil, "is missing",
                    fix:
                        """
                        add the backup directory, e.g. path = \"/var/backups/app\" (relative paths start at the \
                        configuration directory)
                        """
                )
                return nil
            }
            guard !path.isEmpty else {
                sink.error("path", "\"\"", "is empty", fix: "set the backup directory")
                return nil
            }
            guard !hasControlCharacters(path) else {
                sink.error(
                    "path", nil, "contains a line break or control character", fix: "give a plain directory path")
                return nil
            }
            if let problem = pathLengthProblem(path) {
                sink.error("path", nil, problem, fix: "give a shorter directory path")
                return nil
            }
            return .filesystem(FilesystemTarget(path: path, configDirectory: configDirectory))
        case "s3":
            if path != nil {
                sink.error(
                    "path", nil, "belongs to the filesystem provider, not s3",
                    fix: "remove it; use prefix for a folder inside the bucket")
            }
            // Every field is checked before a missing one ends the reading, so all problems show at once.
            if let bucket, !bucket.isEmpty {
                S3Names.checkBucket(bucket, sink: sink)
            } else {
                sink.error(
                    "bucket", bucket.map { "\"\($0)\"" }, bucket == nil ? "is missing" : "is empty",
                    fix: "name an existing bucket, e.g. bucket = \"my-backups\"")
            }
            if let endpoint, !endpoint.isEmpty, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
                sink.error(
                    "endpoint", "\"\(endpoint)\"", "must start with http:// or https://",
                    fix: "e.g. endpoint = \"https://s3.us-west-004.backblazeb2.com\", or leave it empty for AWS")
            }
            if let endpoint, endpoint.hasPrefix("http://"), !S3Names.isLoopback(endpoint) {
                sink.warning(
                    "endpoint", "\"\(endpoint)\"", "is plain http: keys and backups cross the network unencrypted",
                    fix: "use https:// unless the store is on this host")
            }
            S3Settings.check(s3Settings, accessKey: accessKey, sink: sink)
            if !s3Settings.usesInstanceCredentials && accessKey?.isEmpty ?? true {
                sink.error(
                    "access_key", nil, accessKey == nil ? "is missing" : "is empty",
                    fix:
                        """
                        set the access key id of the S3 user, or credentials = \"instance\" for the instance's \
                        IAM role
                        """
                )
            }
            for (field, value) in [
                ("endpoint", endpoint), ("region", region), ("prefix", prefix), ("access_key", accessKey),
            ] {
                if let value, hasControlCharacters(value) || (field != "prefix" && value.contains(" ")) {
                    sink.error(
                        field, nil, "contains white space, a line break or a control character",
                        fix: "give the value exactly as the store shows it")
                }
            }
            if let prefix, prefix.utf8.count > 512 {
                sink.error("prefix", nil, "is longer than 512 bytes; S3 keys end at 1,024", fix: "use a shorter prefix")
            }
            if let prefix, prefix.hasPrefix("/") {
                sink.error(
                    "prefix", "\"\(prefix)\"", "must not start with '/'", fix: "write it as e.g. \"app/backups/\"")
            }
            guard let bucket, !bucket.isEmpty, s3Settings.usesInstanceCredentials || !(accessKey ?? "").isEmpty else {
                return nil
            }
            return .s3(
                S3Target(
                    bucket: bucket, endpoint: endpoint ?? "", region: region ?? "",
                    forcePathStyle: forcePathStyle ?? false,
                    prefix: prefix ?? "", accessKey: accessKey ?? "", settings: s3Settings))
        case let other?:
            sink.error("provider", "\"\(other)\"", "is not a known provider", fix: "use \"filesystem\" or \"s3\"")
            return nil
        }
    }

    private static func readSchedule(_ root: inout TableReader, sink: ProblemSink) -> Schedule? {
        guard var section = root.table("schedule", required: true, example: "{ type = \"daily\", times = [\"02:00\"] }")
        else { return nil }
        let typeName = section.string("type", required: true, example: "\"daily\"")
        let timeTexts = section.strings("times", example: "[\"02:00\", \"14:00\"]") ?? []
        let weekdayTexts = section.strings("weekdays", example: "[\"mon\", \"thu\"]") ?? []
        let dayItems = section.integers("days", example: "[1, 15]") ?? []
        let timezone = section.string("timezone", example: "\"Europe/Prague\"")
        section.rejectUnknownKeys()

        var times: [TimeOfDay] = []
        for (index, text) in timeTexts.enumerated() {
            switch TimeOfDay.parse(text) {
            case .success(let time): times.append(time)
            case .failure(let error):
                sink.error(
                    "schedule.times[\(index)]", "\"\(text)\"", error.reason,
                    fix: "write times as 24-hour HH:MM, e.g. \"02:00\" or \"23:30\"")
            }
        }
        var weekdays: [Weekday] = []
        for (index, text) in weekdayTexts.enumerated() {
            if let day = Weekday(parsing: text) {
                weekdays.append(day)
            } else {
                sink.error(
                    "schedule.weekdays[\(index)]", "\"\(text)\"", "is not a weekday",
                    fix: "use mon, tue, wed, thu, fri, sat or sun")
            }
        }
        var days: [Int] = []
        for case (let index, let day?) in dayItems.enumerated() {
            if (1...31).contains(day) {
                days.append(day)
            } else {
                sink.error("schedule.days[\(index)]", String(day), "is not a day of the month", fix: "use 1 to 31")
            }
        }
        let timezoneName = timezone.flatMap { $0.isEmpty ? nil : $0 }
        guard let kind = typeName.flatMap(Schedule.Kind.init(rawValue:)) else {
            if let typeName {
                sink.error(
                    "schedule.type", "\"\(typeName)\"", "is not a known schedule",
                    fix: "use migration, daily, weekly or monthly")
            }
            if let timezoneName { Schedule.validate(timezone: timezoneName, sink: sink, field: "schedule.timezone") }
            return nil
        }
        // A list given but with no valid entry was reported above; do not also call it empty.
        var unreadable: Set<String> = []
        if times.isEmpty && !timeTexts.isEmpty { unreadable.insert("times") }
        if weekdays.isEmpty && !weekdayTexts.isEmpty { unreadable.insert("weekdays") }
        if days.isEmpty && !dayItems.isEmpty { unreadable.insert("days") }
        let schedule = Schedule(
            kind: kind, times: times, weekdays: Array(Set(weekdays)).sorted(), days: Array(Set(days)).sorted(),
            timezone: timezoneName)
        schedule.validate(sink: sink, prefix: "schedule", unreadableLists: unreadable)
        return unreadable.isEmpty ? schedule : nil
    }

    /// The table written to `registrations.d/NAME.toml` (no name: the file name is the name).
    public static func renderRegistration(_ registration: Registration) -> [String: ConfigValue] {
        var table: [String: ConfigValue] = ["provider": .string(registration.provider.kind)]
        switch registration.provider {
        case .filesystem(let target):
            table["path"] = .string(target.path)
        case .s3(let target):
            table["bucket"] = .string(target.bucket)
            table["endpoint"] = .string(target.endpoint)
            table["region"] = .string(target.region)
            table["force_path_style"] = .bool(target.forcePathStyle)
            table["prefix"] = .string(target.prefix)
            table["access_key"] = .string(target.accessKey)
            target.settings.render(into: &table)
        }
        table["schedule"] = .table(renderSchedule(registration.schedule))
        if let url = registration.heartbeatURL { table["heartbeat_url"] = .string(url) }
        EncodingSettings.render(registration.encoding, into: &table)
        return table
    }

    public static func renderSchedule(_ schedule: Schedule) -> [String: ConfigValue] {
        var table: [String: ConfigValue] = ["type": .string(schedule.kind.rawValue)]
        if schedule.kind != .migration { table["times"] = .array(schedule.times.map { .string($0.description) }) }
        if schedule.kind == .weekly { table["weekdays"] = .array(schedule.weekdays.map { .string($0.rawValue) }) }
        if schedule.kind == .monthly { table["days"] = .array(schedule.days.map { .integer($0) }) }
        if let timezone = schedule.timezone { table["timezone"] = .string(timezone) }
        return table
    }
}

/// S3 naming rules worth checking before a first upload fails.
enum S3Names {
    static func isLoopback(_ endpoint: String) -> Bool {
        let host = endpoint.drop(while: { $0 != "/" }).dropFirst(2).prefix(while: { $0 != ":" && $0 != "/" })
        return host == "localhost" || host.hasPrefix("127.") || host == "[::1]"
    }
}

/// Longer paths than Linux allows (4,095 bytes, 255 per name) cannot exist, and systemd
/// rejects them in unit files.
func pathLengthProblem(_ path: String) -> String? {
    if path.utf8.count > 4095 { return "is longer than the 4,095 bytes a path may have" }
    var name = 0  // bytes of the current component
    for byte in path.utf8 {
        name = byte == UInt8(ascii: "/") ? 0 : name + 1
        if name > 255 { return "has a name longer than the 255 bytes a file system allows" }
    }
    return nil
}

/// Line breaks and other control characters would break unit files and log lines.
func hasControlCharacters(_ text: String) -> Bool {
    text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
}

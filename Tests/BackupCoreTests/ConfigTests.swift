import BackupCore
import Foundation
import Testing

@Suite("Configuration")
struct ConfigTests {
    /// Parses a registration file body and returns the registration or its problems.
    func read(
        _ toml: String, name: String = "job", configDirectory: String = "/etc/dbbackup"
    ) throws -> (Registration?, [ConfigProblem]) {
        let table = try ConfigValue.parseTOML(toml, file: "registrations.d/\(name).toml")
        return ConfigCodec.readRegistration(
            table, name: name, file: "registrations.d/\(name).toml", configDirectory: configDirectory)
    }

    func errors(_ toml: String, name: String = "job") throws -> [ConfigProblem] {
        try read(toml, name: name).1.filter { $0.severity == .error }
    }

    @Test("every schedule type and both providers survive a save and load")
    func roundTrip() throws {
        let sandbox = try Sandbox()
        let registrations = RegistrationFixtures.everyKind(configDirectory: sandbox.locations.configDirectory)
        for registration in registrations { try sandbox.store.save(registration) }
        let loaded = sandbox.store.load()
        #expect(loaded.registrations == registrations.sorted { $0.name < $1.name })
        #expect(loaded.problems.allSatisfy { $0.severity == .warning || $0.file == "dbbackup.toml" })

        let main = MainConfig(
            database: DatabaseSettings(
                path: "data/app.db", configDirectory: sandbox.locations.configDirectory,
                versionQuery: "SELECT max(version) FROM migrations"),
            retention: Retention(local: 3, remote: .unlimited))
        try sandbox.store.saveMain(main)
        #expect(try sandbox.store.loadMain() == main)
        #expect(
            try sandbox.store.loadMain().database.resolvedPath == "\(sandbox.locations.configDirectory)/data/app.db")
    }

    @Test("a hand-written file with comments and single strings reads like a CLI-written one")
    func handWritten() throws {
        let (registration, problems) = try read(
            """
            # written by hand
            provider = "filesystem"   # local disk
            path = "../backups"

            [schedule]
            type = "weekly"
            times = "02:00"          # one time may be a plain string
            weekdays = ["Monday", "thu"]
            """, configDirectory: "/etc/dbbackup")
        #expect(problems.isEmpty)
        #expect(
            registration?.schedule
                == Schedule(kind: .weekly, times: [TimeOfDay(hour: 2, minute: 0)!], weekdays: [.mon, .thu]))
        guard case .filesystem(let target)? = registration?.provider else {
            Issue.record("not filesystem")
            return
        }
        #expect(target.resolvedPath == "/etc/backups")
    }

    @Test("bad time 25:00 names the field, the value and the fix")
    func badTime() throws {
        let problems = try errors(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"02:00\", \"25:00\"]\n")
        #expect(problems.count == 1)
        #expect(problems[0].field == "schedule.times[1]")
        #expect(problems[0].value == "\"25:00\"")
        #expect(problems[0].description.contains("registrations.d/job.toml"))
        #expect(problems[0].description.contains("HH:MM"))
        for bad in ["24:00", "12:60", "7", "noon", "12:5", "-1:00", "１２:００"] {
            let more = try errors(
                "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"\(bad)\"]\n")
            #expect(more.map(\.field) == ["schedule.times[0]"], "\(bad)")
        }
    }

    @Test("weekday funday, weekly without weekdays, day 32")
    func badDays() throws {
        let funday = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"weekly\"\ntimes = \
            [\"02:00\"]\nweekdays = [\"mon\", \"funday\"]\n
            """
        )
        #expect(funday.map(\.field) == ["schedule.weekdays[1]"])
        #expect(funday[0].fix?.contains("mon, tue") == true)

        let noWeekdays = try errors(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"weekly\"\ntimes = [\"02:00\"]\n")
        #expect(noWeekdays.map(\.field) == ["schedule.weekdays"])

        let day32 = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            [1, 32]\n
            """
        )
        #expect(day32.map(\.field) == ["schedule.days[1]"])
        #expect(day32[0].value == "32")

        let day0 = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            [0]\n
            """
        )
        #expect(day0.map(\.field) == ["schedule.days[0]"])

        let daysOnDaily = try errors(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"02:00\"]\ndays = [3]\n")
        #expect(daysOnDaily.map(\.field) == ["schedule.days"])

        let noTimes = try errors("provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\n")
        #expect(noTimes.map(\.field) == ["schedule.times"])
    }

    @Test("every field error of a schedule is reported at once, the time zone's too")
    func allScheduleErrorsAtOnce() throws {
        let problems = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"weekly\"\ntimes = \
            [\"25:00\"]\nweekdays = [\"funday\"]\ntimezone = \"Nowhere/Here\"\n
            """
        )
        #expect(problems.map(\.field) == ["schedule.times[0]", "schedule.weekdays[0]", "schedule.timezone"])
        // An unknown type does not hide a bad time zone either.
        let badType = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"hourly\"\ntimes = \
            [\"02:00\"]\ntimezone = \"Nowhere/Here\"\n
            """
        )
        #expect(badType.map(\.field) == ["schedule.type", "schedule.timezone"])
    }

    /// Found by the fuzzer (seed 573881713227843786): open() finds /usr/share/zoneinfo/Europe//Prague,
    /// but systemd refuses the calendar spec, and the timer would have been dropped at boot.
    @Test("a time zone with an empty or dot component is refused, as systemd refuses it")
    func timeZoneComponents() throws {
        for zone in ["Europe//Prague", "./UTC", "Europe/./Prague", "Europe/"] {
            let problems = try errors(
                """
                provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = \
                [\"02:00\"]\ntimezone = \"\(zone)\"\n
                """
            )
            #expect(problems.map(\.field) == ["schedule.timezone"], "\(zone)")
        }
    }

    @Test("a bad day is named by its index as written, before the list is sorted")
    func dayIndexAsWritten() throws {
        let problems = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            [15, 40, 1]\n
            """
        )
        #expect(problems.map(\.field) == ["schedule.days[1]"])
        #expect(problems.first?.value == "40")
        let (registration, _) = try read(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            [15, 1, 15]\n
            """
        )
        #expect(registration?.schedule.days == [1, 15])
        // An item that is not a number keeps its place: 40 is still days[2]. A list with no
        // valid day is not also reported as missing.
        let mixed = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            [\"x\", 1, 40]\n
            """
        )
        #expect(mixed.map(\.field) == ["schedule.days[0]", "schedule.days[2]"])
        let none = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            [\"x\", 0]\n
            """
        )
        #expect(none.map(\.field) == ["schedule.days[0]", "schedule.days[1]"])
    }

    @Test("an s3 registration without bucket or access key still has its other fields checked")
    func s3ProblemsAtOnce() throws {
        let problems = try errors(
            "provider = \"s3\"\nendpoint = \"ftp://x\"\nprefix = \"/a\"\n[schedule]\ntype = \"migration\"\n")
        #expect(problems.map(\.field) == ["bucket", "endpoint", "access_key", "prefix"])
    }

    @Test("the days 29-31 warning is about valid days only")
    func lateDayWarning() throws {
        func warnings(_ days: String) throws -> [String?] {
            try read(
                """
                provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = \
                [\"02:00\"]\ndays = \(days)\n
                """
            ).1
                .filter { $0.severity == .warning }.map(\.field)
        }
        #expect(try warnings("[32, 0]") == [])
        #expect(try warnings("[30, 40]") == ["schedule.days"])
        #expect(try warnings("[29, 31]") == ["schedule.days"])
        #expect(try warnings("[1, 28]") == [])
    }

    @Test(
        "a day that some months lack is named with those months, also beside earlier days",
        arguments: [
            ("[1, 31]", "day 31 in February, April, June, September and November"),
            ("[15, 30]", "day 30 in February"),
            ("[29]", "day 29 in February of common years"),
            (
                "[1, 29, 30, 31]",
                """
                day 29 in February of common years; day 30 in February; day 31 in February, April, June, \
                September and November
                """
            ),
        ])
    func shortMonths(days: String, named: String) throws {
        let problems = try read(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"monthly\"\ntimes = [\"02:00\"]\ndays = \
            \(days)\n
            """
        ).1
        let warnings = problems.filter { $0.severity == .warning && $0.field == "schedule.days" }
        #expect(warnings.count == 1, "\(problems)")
        #expect(warnings.first?.message.contains(named) == true, "\(warnings)")
        #expect(warnings.first?.message.hasPrefix("days 29-31 do not occur in every month") == true, "\(warnings)")
    }

    @Test(
        "did you mean: fewest edits, then most letters in order, then the name",
        arguments: [
            ("tme", "schedule.times"), ("time", "schedule.times"), ("typ", "schedule.type"),
            ("weekday", "schedule.weekdays"),
            ("day", "schedule.days"), ("timzone", "schedule.timezone"),
        ])
    func suggestion(typo: String, expected: String) throws {
        let problems = try errors(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"migration\"\n\(typo) = 1\n")
        #expect(problems.first { $0.field == "schedule.\(typo)" }?.fix == "did you mean \(expected)?")
    }

    @Test("unknown provider, missing bucket, missing access key, wrong provider's fields")
    func providers() throws {
        let unknown = try errors("provider = \"ftp\"\n[schedule]\ntype = \"migration\"\n")
        #expect(unknown.map(\.field) == ["provider"])
        #expect(unknown[0].fix?.contains("filesystem") == true)

        let noBucket = try errors("provider = \"s3\"\naccess_key = \"AK\"\n[schedule]\ntype = \"migration\"\n")
        #expect(noBucket.map(\.field) == ["bucket"])

        let noKey = try errors("provider = \"s3\"\nbucket = \"my-bucket\"\n[schedule]\ntype = \"migration\"\n")
        #expect(noKey.map(\.field) == ["access_key"])

        let mixed = try errors(
            "provider = \"filesystem\"\npath = \"/b\"\nbucket = \"x\"\n[schedule]\ntype = \"migration\"\n")
        #expect(mixed.map(\.field) == ["bucket"])

        let badEndpoint = try errors(
            """
            provider = \"s3\"\nbucket = \"my-bucket\"\naccess_key = \"AK\"\nendpoint = \
            \"minio:9000\"\n[schedule]\ntype = \"migration\"\n
            """
        )
        #expect(badEndpoint.map(\.field) == ["endpoint"])

        let noPath = try errors("provider = \"filesystem\"\n[schedule]\ntype = \"migration\"\n")
        #expect(noPath.map(\.field) == ["path"])
    }

    @Test("typos, wrong types, secrets in files, syntax errors and bad time zones are named")
    func other() throws {
        let typo = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntime = [\"02:00\"]\ntimes = \
            [\"03:00\"]\n
            """
        )
        #expect(typo.map(\.field) == ["schedule.time"])
        #expect(typo[0].fix == "did you mean schedule.times?")

        let wrongType = try errors("provider = \"filesystem\"\npath = 5\n[schedule]\ntype = \"migration\"\n")
        #expect(wrongType.first?.field == "path")

        let secret = try errors(
            """
            provider = \"s3\"\nbucket = \"my-bucket\"\naccess_key = \"AK\"\nsecret_key = \
            \"hunter2hunter2\"\n[schedule]\ntype = \"migration\"\n
            """
        )
        #expect(secret.map(\.field) == ["secret_key"])
        #expect(!secret.description.contains("hunter2"))

        let zone = try errors(
            """
            provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"02:00\"]\ntimezone \
            = \"Mars/Olympus\"\n
            """
        )
        #expect(zone.map(\.field) == ["schedule.timezone"])
        #expect(
            try errors(
                """
                provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = \
                [\"02:00\"]\ntimezone = \"../../etc/passwd\"\n
                """
            ).map(\.field) == ["schedule.timezone"])
        #expect(
            try errors(
                """
                provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = \
                [\"02:00\"]\ntimezone = \"America/New_York\"\n
                """
            ).isEmpty)

        #expect(throws: ConfigProblem.self) { try ConfigValue.parseTOML("provider = filesystem\n", file: "x.toml") }
        do {
            _ = try ConfigValue.parseTOML("a = 1\nprovider = filesystem\n", file: "x.toml")
        } catch {
            #expect(error.description.contains("line 2"))
        }

        let noSchedule = try errors("provider = \"filesystem\"\npath = \"/b\"\n")
        #expect(noSchedule.map(\.field) == ["schedule"])
        let badType = try errors("provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"hourly\"\n")
        #expect(badType.map(\.field) == ["schedule.type"])
    }

    @Test(
        "input that made toml++ abort the process is reported as a syntax error with its line",
        arguments: [
            "provider = \"filesystem\"\n[\n[schedule]\n", "[schedule]\ndays = [1, }15]\n", "[]\n", "a =\n",
            "a = [1,,2]\n",
            "[schedule\n", "a = \"unterminated\n", "a = {b = }\n", "a = '''never closed\n",
        ])
    func parserCrashers(text: String) throws {
        #expect(throws: ConfigProblem.self) { try ConfigValue.parseTOML(text, file: "registrations.d/x.toml") }
        do {
            _ = try ConfigValue.parseTOML(text, file: "registrations.d/x.toml")
        } catch {
            #expect(error.message.contains("not valid TOML at line"), "\(error)")
        }
    }

    @Test(
        "what configuration files legitimately use passes the check",
        arguments: [
            "# c\n[schedule]\ntimes = [\n  \"02:00\", # morning\n  \"14:00\",\n]\n",
            "[[registrations]]\nname = 'a'\n[registrations.schedule]\ntype = \"migration\"\n",
            "version_query = \"\"\"\nSELECT max(v)\nFROM m\n\"\"\"\n",
            "\"quoted key\" = 1\na.b = true\nt = { x = 1, y = [2, 3] }\n", "d = 2026-11-26 02:00:00\nf = -1.5e3\n",
        ])
    func parserAccepts(text: String) throws {
        _ = try ConfigValue.parseTOML(text, file: "x.toml")
    }

    @Test("paths longer than Linux allows are refused")
    func longPaths() throws {
        let long = "/srv/" + String(repeating: "x", count: 300)
        #expect(
            try errors("provider = \"filesystem\"\npath = \"\(long)\"\n[schedule]\ntype = \"migration\"\n").map(\.field)
                == ["path"])
    }

    @Test(
        "names must fit systemd unit names",
        arguments: [
            "a/b", "a b", "a\nb", "", ".hidden", "-x", "ü", String(repeating: "x", count: 65), "a.b", "a\\b", "a%b",
        ])
    func badNames(name: String) throws {
        let problems = try errors(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"migration\"\n", name: name)
        #expect(problems.map(\.field) == ["name"])
    }

    @Test("a name that does not start with a letter or digit is told so", arguments: ["_x", "-x", ".hidden"])
    func badFirstCharacter(name: String) throws {
        #expect(RegistrationName.problem(name) == "must start with a letter or digit")
        #expect(RegistrationName.problem("a.b") == "contains characters that cannot be used in a systemd unit name")
    }

    @Test("good names", arguments: ["a", "db-1", "Nightly_S3", String(repeating: "x", count: 64)])
    func goodNames(name: String) throws {
        #expect(
            try errors("provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"migration\"\n", name: name)
                .isEmpty)
    }

    @Test("retention: local 16 is refused, 0 warns, remote unlimited")
    func retention() throws {
        func main(_ retention: String) throws -> (MainConfig?, [ConfigProblem]) {
            let table = try ConfigValue.parseTOML(
                "[database]\npath = \"app.db\"\n[retention]\n\(retention)\n", file: "dbbackup.toml")
            return ConfigCodec.readMain(table, file: "dbbackup.toml", configDirectory: "/etc/dbbackup")
        }
        let (tooMany, problems) = try main("local = 16")
        #expect(tooMany == nil)
        #expect(problems.filter { $0.severity == .error }.map(\.field) == ["retention.local"])
        #expect(problems[0].description.contains("16"))

        let (zero, zeroProblems) = try main("local = 0\nremote = 0")
        #expect(zero?.retention.local == 0)
        #expect(
            zeroProblems.filter { $0.severity == .warning }.map(\.field) == ["retention.local", "retention.remote"])
        #expect(zero?.database.resolvedPath == "/etc/dbbackup/app.db")

        let (unlimited, _) = try main("local = 15\nremote = \"unlimited\"")
        #expect(unlimited?.retention.remote == .unlimited)
        #expect(try main("remote = -1").0 == nil)
        #expect(try main("remote = \"lots\"").0 == nil)
    }

    @Test("database.pace_mib_per_second: default 128, 0 turns pacing off, a bad value names the field")
    func pace() throws {
        func main(_ lines: String) throws -> (MainConfig?, [ConfigProblem]) {
            let table = try ConfigValue.parseTOML("[database]\npath = \"app.db\"\n\(lines)\n", file: "dbbackup.toml")
            return ConfigCodec.readMain(table, file: "dbbackup.toml", configDirectory: "/etc/dbbackup")
        }
        let standard = try #require(try main("").0)
        #expect(standard.database.paceBytesPerSecond == 128 << 20)
        func written(_ config: MainConfig) -> ConfigValue? {
            guard case .table(let database)? = ConfigCodec.renderMain(config)["database"] else { return nil }
            return database["pace_mib_per_second"]
        }
        #expect(written(standard) == nil, "a default is not written out")

        let off = try #require(try main("pace_mib_per_second = 0").0)
        #expect(off.database.paceBytesPerSecond == nil)
        #expect(written(off) == .integer(0))

        let (bad, problems) = try main("pace_mib_per_second = -5")
        #expect(bad == nil)
        #expect(problems.map(\.field) == ["database.pace_mib_per_second"])
        #expect(problems.first?.description.contains("0 writes directory backups at full speed") == true)
    }

    @Test("a broken registration file is reported and skipped; the good ones still load")
    func brokenNextToGood() throws {
        let sandbox = try Sandbox()
        _ = try sandbox.filesystemRegistration("good")
        try sandbox.write(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"25:00\"]\n",
            to: "etc/registrations.d/bad.toml")
        try sandbox.write("this is not toml", to: "etc/registrations.d/worse.toml")
        try sandbox.write("ignored", to: "etc/registrations.d/notes.txt")
        let loaded = sandbox.store.load()
        #expect(loaded.registrations.map(\.name) == ["good"])
        let files = Set(loaded.errors.map(\.file))
        #expect(files.contains("registrations.d/bad.toml"))
        #expect(files.contains("registrations.d/worse.toml"))
        #expect(loaded.warnings.contains { $0.file == "registrations.d/notes.txt" })
    }

    @Test("an imported document without [database] says so, not that dbbackup is unconfigured")
    func importWithoutDatabase() throws {
        let toml =
            """
            [[registrations]]\nname = \"a\"\nprovider = \"filesystem\"\npath = \
            \"b\"\n[registrations.schedule]\ntype = \"migration\"\n
            """
        #expect {
            try ConfigDocument.parse(toml, file: "two.toml", configDirectory: "/etc/dbbackup")
        } throws: { error in
            let problems = (error as! ConfigErrors).problems
            return problems.count == 1 && problems[0].file == "two.toml" && problems[0].field == "database"
                && problems[0].description.contains("two.toml has no [database] table")
                && !problems[0].description.contains("not configured yet")
        }
    }

    @Test("an imported document keeps the configured tables it lacks, and replaces those it has")
    func importKeepsMissingTables() throws {
        let current = MainConfig(
            database: DatabaseSettings(
                path: "/srv/app.db", configDirectory: "/etc/dbbackup", versionQuery: "SELECT v FROM m"),
            retention: Retention(local: 15, remote: .unlimited))
        let onlyRetention = try ConfigDocument.parse(
            "[retention]\nlocal = 2\nremote = 3\n", file: "r.toml", configDirectory: "/etc/dbbackup", current: current)
        #expect(onlyRetention.keptTables == ["database"])
        #expect(
            onlyRetention.main.database.path == "/srv/app.db"
                && onlyRetention.main.database.versionQuery == "SELECT v FROM m")
        #expect(onlyRetention.main.retention.local == 2)
        let onlyDatabase = try ConfigDocument.parse(
            "[database]\npath = \"/srv/other.db\"\n", file: "d.toml", configDirectory: "/etc/dbbackup", current: current
        )
        #expect(onlyDatabase.keptTables == ["retention"])
        #expect(onlyDatabase.main.database.path == "/srv/other.db" && onlyDatabase.main.database.versionQuery == nil)
        #expect(onlyDatabase.main.retention.local == 15 && onlyDatabase.main.retention.remote == .unlimited)
    }

    @Test("import rejects duplicate names and validates everything before writing")
    func importDocument() throws {
        let json = """
            {"database": {"path": "app.db"}, "retention": {"local": 3, "remote": "unlimited"},
             "registrations": [
               {"name": "a", "provider": "filesystem", "path": "x", "schedule": {"type": "migration"}},
               {"name": "a", "provider": "filesystem", "path": "y", "schedule": {"type": "migration"}},
               {"name": "b", "provider": "filesystem", "path": "y", "schedule": {"type": "daily", "times": ["31:00"]}}
             ]}
            """
        #expect {
            try ConfigDocument.parse(json, file: "export.json", configDirectory: "/etc/dbbackup")
        } throws: { error in
            let fields = (error as! ConfigErrors).problems.map { $0.field ?? "" }
            return fields.contains("registrations[1].name") && fields.contains("schedule.times[0]")
        }
    }
}

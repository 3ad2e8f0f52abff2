import BackupCore
import Foundation
import TestKit
import Testing

@Suite("Command line", .serialized)
struct CLITests {
    @Test("the whole filesystem flow: init, add, run, list, restore")
    func flow() throws {
        let cli = try CLI()
        try cli.makeDatabase()
        // Relative paths on the command line start at the current directory (the sandbox), and are stored absolute.
        #expect(try cli("init", "--database", "app.db").status == 0)
        #expect(cli.file("\(cli.configDirectory)/dbbackup.toml")?.contains("path = '\(cli.database)'") == true)
        try cli.addRegistration("pre", path: "backups")
        let run = try cli("run", "--trigger", "migration")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("db_v7_"))

        let backups = try cli.json("list", "--json") as! [[String: Any]]
        #expect(backups.count == 1)
        for key in ["id", "registration", "created_at", "version", "size", "sha256", "location", "trigger"] {
            #expect(backups[0][key] != nil, "list --json lacks \(key)")
        }
        #expect(backups[0]["trigger"] as? String == "migration")
        #expect(backups[0]["version"] as? Int == 7)
        let created = backups[0]["created_at"] as! String
        #expect(created.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)
        let location = backups[0]["location"] as! String
        #expect(location.hasPrefix("\(cli.root)/backups/db_v7_"))

        let restored = "\(cli.root)/restored.db"
        #expect(try cli("restore", "latest", "--to", restored).status == 0)
        #expect(FileManager.default.contents(atPath: restored) == FileManager.default.contents(atPath: location))
        let again = try cli("restore", "latest", "--to", restored)
        #expect(again.status != 0)
        #expect(again.stderr.contains("--force"))
        #expect(try cli("restore", "1", "--to", restored, "--force").status == 0)
        #expect(try cli("restore", "99", "--to", "\(cli.root)/x.db").stderr.contains("no stored backup with id 99"))
        let noDirectory = try cli("restore", "latest", "--to", "\(cli.root)/missing/x.db")
        #expect(noDirectory.status != 0)
        #expect(
            noDirectory.stderr.contains("\(cli.root)/missing is not a directory; create it first"),
            "\(noDirectory.stderr)")

        // A listed name that is neither configured nor in the registry is told apart from one with no backups yet.
        #expect(try cli("list", "pre").stdout.contains("db_v7_"))
        #expect(try cli("list", "nosuch").stdout.contains("no registration nosuch is configured"))
        #expect(
            try cli("list", "nosuch", "--json").stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("["))
    }

    @Test("exit statuses tell configuration, snapshot and store failures apart")
    func exitStatuses() throws {
        let cli = try CLI()
        #expect(try cli("run", "nothing").status == ExitStatus.configuration.code)  // no main configuration
        try cli.makeDatabase()
        try cli("init", "--database", cli.database)
        #expect(try cli("run", "nothing").status == ExitStatus.configuration.code)
        #expect(try cli("run").status == 64)  // usage: neither NAME nor --trigger migration
        // No migration registration.
        #expect(try cli("run", "--trigger", "migration").status == ExitStatus.configuration.code)
        try cli(
            "registration", "add", "blocked", "--provider", "filesystem", "--path", "\(cli.database)/sub", "--schedule",
            "migration")
        let store = try cli("run", "blocked")
        #expect(store.status == ExitStatus.store.code)
        #expect(store.stderr.contains("registration blocked"))
        try FileManager.default.removeItem(atPath: cli.database)
        try cli.addRegistration("ok")
        let snapshot = try cli("run", "ok")
        #expect(snapshot.status == ExitStatus.snapshot.code)
        #expect(snapshot.stderr.contains("does not exist"))
        let list = try cli.json("list", "--json") as! [Any]
        #expect(list.isEmpty)
    }

    @Test("bad input on the command line names the option and the fix, and changes nothing")
    func badInput() throws {
        let cli = try CLI.initialized()
        // A registration x of the filesystem provider, directory b, with a schedule of the kind given.
        let addX = ["registration", "add", "x", "--provider", "filesystem", "--path", "b", "--schedule"]
        let cases: [([String], String)] = [
            (addX + ["daily", "--time", "25:00"], "--time[0] = \"25:00\""),
            (addX + ["weekly", "--time", "02:00", "--weekday", "funday"], "--weekday[0] = \"funday\""),
            (addX + ["weekly", "--time", "02:00"], "--weekday"),
            (addX + ["monthly", "--time", "02:00", "--day", "32"], "--day[0] = 32"),
            (
                ["registration", "add", "x", "--provider", "ftp", "--path", "b", "--schedule", "migration"],
                "--provider = \"ftp\""
            ),
            (
                ["registration", "add", "x", "--provider", "s3", "--access-key", "a", "--schedule", "migration"],
                "--bucket"
            ),
            (
                ["registration", "add", "a/b", "--provider", "filesystem", "--path", "b", "--schedule", "migration"],
                "NAME"
            ),
            (
                ["registration", "add", "a b", "--provider", "filesystem", "--path", "b", "--schedule", "migration"],
                "white space"
            ),
            (addX + ["daily", "--time", "02:00", "--timezone", "Nowhere/City"], "--timezone"),
            (["retention", "set", "--local", "16"], "--local = 16"),
            (["retention", "set", "--remote", "many"], "--remote = many"),
            (["retention", "set", "--local", "-1"], "--local = -1: must be between 0 and 15"),
            (
                ["retention", "set", "--remote", "-1"],
                "--remote = -1: must be a number of backups (0 or more) or \"unlimited\"; e.g. --remote 30"
            ),
            (
                ["registration", "add", "_x", "--provider", "filesystem", "--path", "b", "--schedule", "migration"],
                "must start with a letter or digit"
            ),
            (addX + ["monthly", "--time", "02:00", "--day", "15", "--day", "40", "--day", "1"], "--day[1] = 40"),
            (
                ["registration", "add", "x", "--provider", "filesystem", "--path", "", "--schedule", "migration"],
                "--path = \"\": is empty"
            ),
            (["init", "--database", ""], "--database = \"\": is empty"),
        ]
        for (arguments, expected) in cases {
            let result = try cli.run(arguments)
            #expect(result.status == ExitStatus.configuration.code, "\(arguments)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(cli.configDirectory)/registrations.d/x.toml"))
        try cli.addRegistration("x")
        let duplicate = try cli(
            "registration", "add", "x", "--provider", "filesystem", "--path", "c", "--schedule", "migration")
        #expect(duplicate.status == ExitStatus.configuration.code)
        #expect(duplicate.stderr.contains("already exists"))
        #expect(cli.file("\(cli.configDirectory)/registrations.d/x.toml")?.contains("path = '\(cli.root)/b'") == true)
        #expect(try cli.json("retention", "show", "--json") as? [String: Int] == ["local": 7, "remote": 14])
    }

    @Test("every error of a schedule given on the command line is reported at once")
    func allScheduleErrorsAtOnce() throws {
        let cli = try CLI.initialized()
        let cases: [(schedule: [String], fields: [String])] = [
            (
                ["weekly", "--time", "25:00", "--weekday", "funday", "--timezone", "Nowhere/X"],
                ["--time[0] = \"25:00\"", "--weekday[0] = \"funday\"", "--timezone = \"Nowhere/X\""]
            ),
            // A day that is not a number is one error among the others, not the only one.
            (
                ["monthly", "--time", "25:00", "--day", "x", "--timezone", "Nowhere/X"],
                ["--day[0] = \"x\"", "--time[0] = \"25:00\"", "--timezone = \"Nowhere/X\""]
            ),
        ]
        for (schedule, fields) in cases {
            let add = try cli.run(
                ["registration", "add", "x", "--provider", "filesystem", "--path", "b", "--schedule"] + schedule)
            #expect(add.status == ExitStatus.configuration.code, "\(schedule)")
            for field in fields { #expect(add.stderr.contains(field), "\(field): \(add.stderr)") }
        }
    }

    @Test("fixes for command-line values name options, not configuration-file syntax")
    func fixesNameOptions() throws {
        let cli = try CLI.initialized()
        let cases: [([String], String)] = [
            (
                ["--schedule", "daily", "--time", "02:00", "--weekday", "mon"],
                "--weekday: only a weekly schedule takes weekdays; remove it, or use --schedule weekly"
            ),
            (
                ["--schedule", "daily", "--time", "02:00", "--day", "3"],
                "--day: only a monthly schedule takes days of the month; remove it, or use --schedule monthly"
            ),
            (
                ["--bucket", "b-1", "--schedule", "migration"],
                "--bucket: belongs to the s3 provider, not filesystem; remove it, or use --provider s3"
            ),
        ]
        for (arguments, expected) in cases {
            let result = try cli.run(
                ["registration", "add", "x", "--provider", "filesystem", "--path", "b"] + arguments)
            #expect(result.status == ExitStatus.configuration.code, "\(arguments)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains(" = \""), "\(arguments): \(result.stderr)")
        }
    }

    @Test("retention set warns about a stored limit under its name in the file, not as an option not given")
    func retentionWarningsNameTheirSource() throws {
        let cli = try CLI.initialized()
        let zero = try cli("retention", "set", "--local", "0")
        #expect(zero.stderr.contains("warning: command line: --local = 0"), "\(zero.stderr)")
        // Every run says it too (docs/contract.md: 0 means no automatic cleanup; warn about it).
        try cli.addRegistration("z", path: "z")
        let run = try cli("run", "z")
        #expect(run.status == 0)
        #expect(
            run.stderr.contains("warning: retention keeps every backup of z (no automatic cleanup)"), "\(run.stderr)")
        let remote = try cli("retention", "set", "--remote", "unlimited")
        #expect(remote.status == 0)
        #expect(!remote.stderr.contains("--local"), "\(remote.stderr)")
        #expect(remote.stderr.contains("warning: dbbackup.toml: retention.local = 0"), "\(remote.stderr)")
        #expect(remote.stderr.contains("warning: command line: --remote = unlimited"), "\(remote.stderr)")
    }

    @Test("config import keeps the configured tables a file lacks; without any configuration a file needs [database]")
    func importPartialDocument() throws {
        let cli = try CLI()
        try cli.makeDatabase()
        let file = "\(cli.root)/two.toml"
        try """
        [[registrations]]\nname = \"a\"\nprovider = \"filesystem\"\npath = \
        \"b\"\n[registrations.schedule]\ntype = \"migration\"\n
        """
        .write(toFile: file, atomically: true, encoding: .utf8)
        // Nothing configured yet: the file must say which database.
        let unconfigured = try cli("config", "import", file)
        #expect(unconfigured.status == ExitStatus.configuration.code)
        #expect(unconfigured.stderr.contains("\(file) has no [database] table"), "\(unconfigured.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(cli.configDirectory)/registrations.d/a.toml"))

        // Configured: the registration is added, and the database and retention stay as they were
        // (a retention limit falling back to its default would prune stored backups).
        try cli("init", "--database", cli.database)
        try cli("retention", "set", "--local", "15", "--remote", "30")
        let imported = try cli("config", "import", file)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(
            imported.stdout.contains("kept [database] as configured")
                && imported.stdout.contains("kept [retention] as configured"), "\(imported.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(cli.configDirectory)/registrations.d/a.toml"))
        #expect(try cli.json("retention", "show", "--json") as? [String: Int] == ["local": 15, "remote": 30])
        // A table the file has replaces the configured one.
        try "[retention]\nlocal = 3\nremote = 4\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try cli("config", "import", file).status == 0)
        #expect(try cli.json("retention", "show", "--json") as? [String: Int] == ["local": 3, "remote": 4])
    }

    @Test("edit warns about a stored setting it was not given under that setting's name, not as an option")
    func editWarningsNameTheirSource() throws {
        let cli = try CLI.initialized()
        let added = try cli(
            "registration", "add", "m", "--provider", "filesystem", "--path", "b", "--schedule", "monthly", "--day",
            "30", "--time", "02:00")
        #expect(added.stderr.contains("warning: command line: --day: days 29-31"), "\(added.stderr)")
        let edited = try cli("registration", "edit", "m", "--time", "03:00")
        #expect(edited.status == 0)
        #expect(!edited.stderr.contains("--day"), "\(edited.stderr)")
        #expect(edited.stderr.contains("registrations.d/m.toml: schedule.days: days 29-31"), "\(edited.stderr)")
        // An error the edit causes names the option that fixes it, even one not given.
        let weeklyWithoutWeekday = try cli("registration", "edit", "m", "--schedule", "weekly")
        #expect(weeklyWithoutWeekday.status == ExitStatus.configuration.code)
        #expect(weeklyWithoutWeekday.stderr.contains("--weekday"), "\(weeklyWithoutWeekday.stderr)")
    }

    @Test("edit keeps what is not given; a new schedule type keeps times and timezone, drops weekdays and days")
    func edit() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration(
            "n", schedule: "weekly", "--time", "02:00", "--weekday", "mon", "thu", "--timezone", "Europe/Prague")
        func shownSchedule() throws -> [String: Any] {
            (try cli.json("registration", "show", "n", "--json") as! [String: Any])["schedule"] as! [String: Any]
        }
        #expect(try cli("registration", "edit", "n", "--time", "03:30").status == 0)
        var schedule = try shownSchedule()
        #expect(schedule["times"] as? [String] == ["03:30"])
        #expect(schedule["weekdays"] as? [String] == ["mon", "thu"])
        #expect(schedule["timezone"] as? String == "Europe/Prague")
        #expect(try cli("registration", "edit", "n", "--schedule", "daily", "--time", "04:00").status == 0)
        schedule = try shownSchedule()
        #expect(schedule["type"] as? String == "daily")
        #expect(schedule["times"] as? [String] == ["04:00"])
        #expect(schedule["weekdays"] == nil)
        #expect(schedule["timezone"] as? String == "Europe/Prague")
        // A new timed type keeps the times and the timezone it is not given.
        #expect(try cli("registration", "edit", "n", "--schedule", "monthly", "--day", "1").status == 0)
        schedule = try shownSchedule()
        #expect(schedule["type"] as? String == "monthly")
        #expect(schedule["times"] as? [String] == ["04:00"])
        #expect(schedule["days"] as? [Int] == [1])
        #expect(schedule["timezone"] as? String == "Europe/Prague")
        // Migration has no times: nothing of the timed schedule is left.
        #expect(try cli("registration", "edit", "n", "--schedule", "migration").status == 0)
        schedule = try shownSchedule()
        #expect(schedule.keys.sorted() == ["type"])
        #expect(try cli("registration", "remove", "n").status == 0)
        #expect(try cli("registration", "remove", "n").status == ExitStatus.configuration.code)
    }

    @Test("--config-dir and --state-dir work before the verb as after it, and win over the environment")
    func globalOptionsBeforeTheVerb() throws {
        let cli = try CLI()
        try cli.makeDatabase()
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = "\(cli.root)/unused-etc"
        environment["DBBACKUP_STATE_DIR"] = "\(cli.root)/unused-state"
        let leading = ["--config-dir", cli.configDirectory, "--state-dir=\(cli.stateDirectory)"]
        func dbbackup(_ arguments: [String]) throws -> CLI.Result {
            try cli.launch(CLI.binary, leading + arguments, environment: environment, input: nil)
        }
        #expect(try dbbackup(["init", "--database", cli.database]).status == 0)
        #expect(
            try dbbackup([
                "registration", "add", "n", "--provider", "filesystem", "--path", "b", "--schedule", "migration",
            ]).status == 0)
        #expect(try dbbackup(["run", "n"]).status == 0)
        let listed = try dbbackup(["list", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any])?.count == 1)
        // Between a group of verbs and its verb too.
        let between = try cli.launch(
            CLI.binary, ["registration"] + leading + ["list", "--json"], environment: environment, input: nil)
        #expect(between.status == 0, "\(between.stderr)")
        #expect(between.stdout.contains("\"name\" : \"n\""), "\(between.stdout)")
        // Short of a verb that runs, the usage shows as it would without them.
        #expect(try dbbackup(["registration"]).stdout.contains("USAGE: dbbackup registration <subcommand>"))
        // The same directories, given the usual way, hold that backup; the environment's were never used.
        #expect((try cli.json("list", "--json") as? [Any])?.count == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(cli.root)/unused-etc"))
        #expect(!FileManager.default.fileExists(atPath: "\(cli.root)/unused-state"))
    }

    @Test(
        "the S3 secret is write-only: masked everywhere, kept on masked re-save, replaced by a new value, never printed"
    )
    func secrets() throws {
        let cli = try CLI.initialized()
        let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
        let short = "abc123"
        let add = try cli(
            "registration", "add", "cloud", "--provider", "s3", "--bucket", "app-backups", "--endpoint",
            "http://127.0.0.1:9000",
            "--force-path-style", "--access-key", "AGENT", "--secret-key-stdin", "--schedule", "daily", "--time",
            "02:00", input: secret + "\n")
        #expect(add.status == 0, "\(add.stderr)")
        let secretFile = "\(cli.configDirectory)/secrets/cloud.secret"
        #expect(cli.file(secretFile) == secret)
        let attributes = try FileManager.default.attributesOfItem(atPath: secretFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: "\(cli.configDirectory)/secrets")
        #expect((directoryAttributes[.posixPermissions] as? Int) == 0o700)
        #expect(cli.file("\(cli.configDirectory)/registrations.d/cloud.toml")?.contains(secret) == false)

        let shown = try cli.json("registration", "show", "cloud", "--json") as! [String: Any]
        #expect(shown["secret_key"] as? String == "wJal****")
        for key in [
            "name", "provider", "schedule", "bucket", "endpoint", "region", "force_path_style", "prefix", "access_key",
            "secret_key",
        ] {
            #expect(shown[key] != nil, "show --json lacks \(key)")
        }
        #expect(try cli("registration", "show", "cloud").stdout.contains("secret_key: wJal****"))
        try cli("registration", "list")
        try cli("registration", "list", "--json")
        try cli("config", "export")
        let exported = try cli("config", "export", "--json")
        #expect(exported.stdout.contains("wJal****"))

        // Masked re-save keeps the stored secret; an edit without a secret keeps it too.
        #expect(try cli("registration", "edit", "cloud", "--secret-key-stdin", input: "wJal****\n").status == 0)
        #expect(cli.file(secretFile) == secret)
        let region = try cli("registration", "edit", "cloud", "--region", "eu-west-1")
        #expect(region.status == 0)
        #expect(!region.stderr.contains("warning"), "\(region.stderr)")
        #expect(cli.file(secretFile) == secret)
        // A new access key without a new secret keeps the stored one, and says so.
        let newKey = try cli("registration", "edit", "cloud", "--access-key", "AGENT2")
        #expect(newKey.status == 0)
        #expect(
            newKey.stderr.contains("warning: the stored secret key is kept for the new access key AGENT2"),
            "\(newKey.stderr)")
        #expect(cli.file(secretFile) == secret)
        #expect(try cli("registration", "edit", "cloud", "--access-key", "AGENT").status == 0)
        // A mask that is not this secret's is refused without changing anything.
        let wrongMask = try cli("registration", "edit", "cloud", "--secret-key-stdin", input: "zzzz****\n")
        #expect(wrongMask.status == ExitStatus.configuration.code)
        #expect(cli.file(secretFile) == secret)

        // Export, import: the masked secret keeps the stored one.
        let exportFile = "\(cli.root)/export.json"
        try exported.stdout.write(toFile: exportFile, atomically: true, encoding: .utf8)
        let imported = try cli("config", "import", exportFile)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(cli.file(secretFile) == secret)
        let tomlFile = "\(cli.root)/export.toml"
        try (try cli("config", "export").stdout).write(toFile: tomlFile, atomically: true, encoding: .utf8)
        #expect(try cli("config", "import", tomlFile).status == 0)
        #expect(cli.file(secretFile) == secret)

        // A bad edit's error text does not carry the secret.
        #expect(try cli("registration", "edit", "cloud", "--time", "99:99").status == ExitStatus.configuration.code)
        try cli("config", "check")

        // Replacement, then a short secret shows fully masked.
        #expect(try cli("registration", "edit", "cloud", "--secret-key-file", "/dev/stdin", input: short).status == 0)
        #expect(cli.file(secretFile) == short)
        #expect(
            (try cli.json("registration", "show", "cloud", "--json") as! [String: Any])["secret_key"] as? String
                == "****")
        try cli("config", "export")

        // There is no way to pass the secret as a command-line value.
        #expect(try cli("registration", "edit", "cloud", "--secret-key", "x").status == 64)
        // A run against a store that is not there fails without the secret in its words.
        let main = "\(cli.configDirectory)/dbbackup.toml"
        try (try String(contentsOfFile: main, encoding: .utf8) + "\n[s3]\nmax_attempts = 1\n").write(
            toFile: main, atomically: true, encoding: .utf8)
        #expect(try cli("run", "cloud").status == ExitStatus.store.code)

        #expect(!cli.transcript.contains(secret))
        #expect(!cli.transcript.contains(short))
        #expect(cli.transcript.contains("wJal****"))
    }

    @Test("concurrent runs of one database serialize and all succeed")
    func concurrentRuns() throws {
        let cli = try CLI.initialized(rows: 20_000, payloadSize: 1000)  // ~20 MB, so the runs overlap
        try cli("retention", "set", "--local", "15")
        try cli.addRegistration("pre")
        let children = try (0..<3).map { _ in
            try Spawn.start(
                CLI.binary, ["run", "pre", "--config-dir", cli.configDirectory, "--state-dir", cli.stateDirectory])
        }
        let results = children.map { $0.wait() }
        #expect(results.map(\.status) == [0, 0, 0], "\(results.map(\.stderr))")
        let backups = try cli.json("list", "--json") as! [[String: Any]]
        #expect(backups.count == 3)
        #expect(Set(backups.compactMap { $0["location"] as? String }).count == 3)
        // Serialized: each run starts after the previous one finished.
        let registry = try BackupRegistry(path: "\(cli.stateDirectory)/registry.db")
        let records = try registry.storedBackups()
        for (earlier, later) in zip(records, records.dropFirst()) {
            #expect(
                earlier.finishedAt! <= later.startedAt || later.finishedAt! <= earlier.startedAt
                    || earlier.startedAt == later.startedAt)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(cli.root)/b")
        #expect(files.count == 3 && files.allSatisfy { $0.hasPrefix("db_v7_") })
    }

    @Test("a directory the service user cannot write: clear error, nothing left, nothing recorded")
    func unwritableDirectory() throws {
        let cli = try CLI()
        try cli.makeDatabase(wal: false)
        _ = chmod(cli.root, 0o777)
        _ = chmod(cli.database, 0o644)
        #expect(try cli("init", "--database", cli.database, asUser: "nobody").status == 0)
        let locked = "\(cli.root)/locked"
        try FileManager.default.createDirectory(
            atPath: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o555])
        try cli.addRegistration("pre", path: locked, asUser: "nobody")
        let run = try cli("run", "pre", asUser: "nobody")
        #expect(run.status == ExitStatus.store.code)
        #expect(run.stderr.contains("not writable"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: locked).isEmpty)
        let list = try cli("list", "--json", asUser: "nobody")
        #expect(list.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || list.stdout.contains("[]"))
    }

    @Test(
        """
        the version query: init refuses a broken one, config check finds one written by hand, init without it \
        goes back to user_version
        """
    )
    func versionQuery() throws {
        let cli = try CLI.initialized()
        let main = "\(cli.configDirectory)/dbbackup.toml"
        let before = cli.file(main)
        for (query, message) in [
            ("SELEC nonsense", "does not compile"), ("DELETE FROM t", "would change the database"),
            ("SELECT 1, 2", "returns 2 columns"),
            ("SELECT NULL", "returned nothing"), ("SELECT ''", "returned an empty value"),
            ("SELECT '../../etc/x'", "returned \"../../etc/x\""),
        ] {
            let refused = try cli("init", "--database", cli.database, "--version-query", query)
            #expect(refused.status == ExitStatus.configuration.code, "\(query)")
            #expect(refused.stderr.contains("--version-query") && refused.stderr.contains(message), "\(refused.stderr)")
            #expect(cli.file(main) == before, "nothing written for \(query)")
        }
        #expect(try cli("init", "--database", cli.database, "--version-query", "SELECT count(*) FROM t").status == 0)
        #expect(cli.file(main)?.contains("SELECT count(*) FROM t") == true)

        // Written by hand: config check compiles it against the live database, and runs nothing.
        let text = cli.file(main)!.replacingOccurrences(of: "SELECT count(*) FROM t", with: "DELETE FROM t")
        try text.write(toFile: main, atomically: true, encoding: .utf8)
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code)
        #expect(
            check.output.contains("database.version_query") && check.output.contains("would change the database"),
            "\(check.output)")
        #expect(try SQLiteConnection(path: cli.database, mode: .readOnly).scalar("SELECT count(*) FROM t") == "200")

        // init without --version-query is the way back to PRAGMA user_version, and says so.
        let reset = try cli("init", "--database", cli.database)
        #expect(reset.status == 0)
        #expect(reset.stdout.contains("PRAGMA user_version again"))
        #expect(cli.file(main)?.contains("version_query") == false)
        #expect(try cli("config", "check").status == 0)
    }

    @Test("config check reports every problem at once, with file and field")
    func configCheck() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("good")
        let directory = "\(cli.configDirectory)/registrations.d"
        try "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"25:00\"]\n".write(
            toFile: "\(directory)/bad.toml", atomically: true, encoding: .utf8)
        try "provider = \"s3\"\naccess_key = \"A\"\n[schedule]\ntype = \"weekly\"\ntimes = [\"02:00\"]\n".write(
            toFile: "\(directory)/worse.toml", atomically: true, encoding: .utf8)
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code)
        #expect(check.stdout.contains("registrations.d/bad.toml: schedule.times[0] = \"25:00\""))
        #expect(check.stdout.contains("registrations.d/worse.toml: bucket"))
        #expect(check.stdout.contains("registrations.d/worse.toml: schedule.weekdays"))
        // The good registration still works.
        #expect(try cli("run", "good").status == 0)
        // Each run (a new process, a new hash seed) suggests the same, closest field.
        try "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntme = [\"02:00\"]\n".write(
            toFile: "\(directory)/typo.toml", atomically: true, encoding: .utf8)
        for _ in 0..<8 {
            #expect(
                try cli("config", "check").stdout.contains(
                    "schedule.tme = [\"02:00\"]: is not a known field; did you mean schedule.times?"))
        }
        let names = (try cli.json("registration", "list", "--json") as! [[String: Any]]).compactMap {
            $0["name"] as? String
        }
        #expect(names == ["good"])
    }
}

extension CLITests {
    @Test("config check: a backup directory under a regular file is an error naming the ancestor")
    func directoryUnderFile() throws {
        let cli = try CLI.initialized()
        try cli(
            "registration", "add", "pre", "--provider", "filesystem", "--path", "\(cli.database)/sub/dir", "--schedule",
            "migration")
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code)
        #expect(
            check.stdout.contains(
                """
                error: registrations.d/pre.toml: path = \"\(cli.database)/sub/dir\": \(cli.database) is not a \
                directory
                """
            ), "\(check.stdout)")
        #expect(!check.stdout.contains("the first run creates it"))
    }

    @Test("config check warns about a secret key file that group or others can read")
    func openSecretFile() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("pre")
        try cli(
            "registration", "add", "cloud", "--provider", "s3", "--bucket", "app-backups", "--endpoint",
            "http://127.0.0.1:9000",
            "--access-key", "AGENT", "--secret-key-stdin", "--schedule", "daily", "--time", "02:00",
            input: "wJalrXUtnFEMIK7MDENG\n")
        let secretFile = "\(cli.configDirectory)/secrets/cloud.secret"
        #expect(!(try cli("config", "check").stdout.contains("secrets/cloud.secret")))
        _ = chmod(secretFile, 0o644)
        let check = try cli("config", "check")
        #expect(check.status == 0)
        #expect(
            check.stdout.contains(
                "warning: secrets/cloud.secret: can be read or changed by group or others (mode 0644)"),
            "\(check.stdout)")
        #expect(check.stdout.contains("chmod 600 \(secretFile)"))
    }
}

@Suite("Command line: systemd-facing verbs", .serialized)
struct SystemdVerbTests {
    @Test("pre-migrate without systemd runs the migration backups itself; without a migration registration it fails")
    func preMigrateWithoutSystemd() throws {
        let cli = try CLI.initialized()
        let none = try cli("pre-migrate")
        #expect(none.status == ExitStatus.configuration.code)
        #expect(none.stderr.contains("no registration has schedule migration"))
        try cli.addRegistration("pre")
        #expect(try cli("pre-migrate", "--timeout", "soon").status == 64)
        let run = try cli("pre-migrate", "--timeout", "1m")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("pre: stored"))
        let backups = try cli.json("list", "--json") as! [[String: Any]]
        #expect(backups.first?["trigger"] as? String == "migration")
    }

    @Test("status --json reports schedule, units, last success and failure, and what is kept")
    func status() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("pre-deploy")
        try cli.addRegistration("nightly", path: "n", schedule: "daily", "--time", "02:00")
        try cli("run", "pre-deploy")
        try cli("run", "pre-deploy")
        try FileManager.default.removeItem(atPath: cli.database)
        #expect(try cli("run", "nightly").status == ExitStatus.snapshot.code)
        let rows = try cli.json("status", "--json") as! [[String: Any]]
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as! String, $0) })
        let pre = try #require(byName["pre-deploy"])
        #expect(pre["service"] as? String == "dbbackup@pre\\x2ddeploy.service")
        #expect(pre["timer"] is NSNull)
        #expect(pre["backups_kept"] as? Int == 2)
        #expect((pre["last_success"] as? [String: Any])?["id"] as? Int == 2)
        #expect(pre["last_failure"] is NSNull)
        let nightly = try #require(byName["nightly"])
        #expect(nightly["timer"] as? String == "dbbackup@nightly.timer")
        #expect(nightly["last_success"] is NSNull)
        #expect(((nightly["last_failure"] as? [String: Any])?["error"] as? String)?.contains("does not exist") == true)
        let plain = try cli("status").stdout
        #expect(plain.contains("nightly: last run failed"))
        #expect(plain.contains("dbbackup@pre\\x2ddeploy.service"), "the plain table names the units too: \(plain)")
    }

    @Test("notify-failure runs the configured command with the unit, registration and error")
    func notifyFailure() throws {
        let cli = try CLI.initialized()
        let marker = "\(cli.root)/notified"
        let script = "\(cli.root)/notify.sh"
        try "#!/bin/sh\necho \"$DBBACKUP_UNIT|$DBBACKUP_REGISTRATION|$DBBACKUP_ERROR|$1\" > \(marker)\n".write(
            toFile: script, atomically: true, encoding: .utf8)
        _ = chmod(script, 0o755)
        let main = "\(cli.configDirectory)/dbbackup.toml"
        let text = try String(contentsOfFile: main, encoding: .utf8)
        try (text + "\n[notify]\non_failure = [\"\(script)\", \"argument one\"]\n").write(
            toFile: main, atomically: true, encoding: .utf8)
        try cli(
            "registration", "add", "night-ly", "--provider", "filesystem", "--path", "\(cli.database)/x", "--schedule",
            "migration")
        #expect(try cli("run", "night-ly").status == ExitStatus.store.code)
        let notified = try cli("notify-failure", "dbbackup@night\\x2dly.service")
        #expect(notified.status == 0, "\(notified.stderr)")
        let line = try String(contentsOfFile: marker, encoding: .utf8)
        #expect(line.hasPrefix("dbbackup@night\\x2dly.service|night-ly|backup directory"))
        #expect(line.hasSuffix("|argument one\n"))

        // The migration service runs several registrations: the hook learns which failed, and why.
        #expect(try cli("run", "--trigger", "migration").status == ExitStatus.store.code)
        #expect(try cli("notify-failure", "dbbackup-migration.service").status == 0)
        let migration = try String(contentsOfFile: marker, encoding: .utf8)
        #expect(migration.hasPrefix("dbbackup-migration.service|night-ly|night-ly: backup directory"), "\(migration)")

        try (text + "\n[notify]\non_failure = [\"relative/script\"]\n").write(
            toFile: main, atomically: true, encoding: .utf8)
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code)
        #expect(check.stdout.contains("notify.on_failure[0]"))
    }
}

import BackupCore
import Foundation
import Testing

@Suite("systemd generator", .serialized)
struct GeneratorTests {
    /// The repository root, for the static units and scripts.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func time(_ text: String) -> TimeOfDay {
        guard case .success(let time) = TimeOfDay.parse(text) else { fatalError(text) }
        return time
    }

    @Test("each schedule becomes OnCalendar= lines, and systemd agrees on the next elapses")
    func calendars() throws {
        let cases: [(Schedule, [String], String, [String])] = [
            (
                Schedule(kind: .daily, times: [time("02:00"), time("14:30")], timezone: "Europe/Prague"),
                ["*-*-* 02:00:00 Europe/Prague", "*-*-* 14:30:00 Europe/Prague"],
                "2026-01-01 00:00:00 UTC", ["2026-01-01 01:00:00", "2026-01-02 01:00:00", "2026-01-03 01:00:00"]
            ),
            // Summer time: 02:30 in Prague is 00:30 UTC in July.
            (
                Schedule(kind: .daily, times: [time("02:30")], timezone: "Europe/Prague"),
                ["*-*-* 02:30:00 Europe/Prague"], "2026-07-01 00:00:00 UTC",
                ["2026-07-01 00:30:00", "2026-07-02 00:30:00", "2026-07-03 00:30:00"]
            ),
            (
                Schedule(kind: .weekly, times: [time("03:15")], weekdays: [.mon, .thu], timezone: "UTC"),
                ["Mon,Thu *-*-* 03:15:00 UTC"], "2026-01-01 00:00:00 UTC",
                ["2026-01-01 03:15:00", "2026-01-05 03:15:00", "2026-01-08 03:15:00"]
            ),
            (
                Schedule(kind: .monthly, times: [time("23:59")], days: [1, 15, 28], timezone: "UTC"),
                ["*-*-01,15,28 23:59:00 UTC"], "2026-01-01 00:00:00 UTC",
                ["2026-01-01 23:59:00", "2026-01-15 23:59:00", "2026-01-28 23:59:00"]
            ),
            (
                Schedule(kind: .monthly, times: [time("04:00")], days: [31], timezone: "America/New_York"),
                ["*-*-31 04:00:00 America/New_York"], "2026-01-01 00:00:00 UTC",
                ["2026-01-31 09:00:00", "2026-03-31 08:00:00", "2026-05-31 08:00:00"]
            ),
        ]
        for (schedule, expressions, base, expected) in cases {
            #expect(UnitGenerator.calendarExpressions(schedule) == expressions)
            let result = try runProcess(
                "/usr/bin/env",
                ["TZ=UTC", "systemd-analyze", "calendar", "--base-time=\(base)", "--iterations=3", expressions[0]])
            #expect(result.status == 0, "\(result.stderr)")
            let elapses = result.stdout.split(separator: "\n").compactMap { line -> String? in
                guard line.contains("Next elapse:") || line.contains("Iter. #") else { return nil }
                let words = line.split(separator: " ")
                return words.count >= 4 ? "\(words[words.count - 3]) \(words[words.count - 2])" : nil
            }
            #expect(elapses == expected, "\(expressions[0])")
        }
        #expect(UnitGenerator.calendarExpressions(.migration).isEmpty)
    }

    /// A configuration with every schedule type, both providers, awkward names and paths.
    func awkwardConfiguration(_ sandbox: Sandbox) throws -> LoadedConfig {
        try sandbox.makeDatabase()
        _ = try sandbox.writeMain()
        let store = sandbox.store
        let directory = sandbox.locations.configDirectory
        let registrations = [
            Registration(
                name: "nightly",
                provider: .filesystem(FilesystemTarget(path: "\(sandbox.root)/nightly", configDirectory: directory)),
                schedule: Schedule(kind: .daily, times: [time("02:00"), time("14:30")], timezone: "Europe/Prague")),
            Registration(
                name: "weekly-off_site",
                provider: .filesystem(
                    FilesystemTarget(path: "\(sandbox.root)/back ups/100% \"full\"", configDirectory: directory)),
                schedule: Schedule(kind: .weekly, times: [time("03:15")], weekdays: [.mon, .thu])),
            Registration(
                name: "month-end",
                provider: .s3(S3Target(bucket: "app-backups", endpoint: "https://s3.example.com", accessKey: "AK")),
                schedule: Schedule(kind: .monthly, times: [time("23:59")], days: [1, 15, 28])),
            Registration(
                name: "pre", provider: .filesystem(FilesystemTarget(path: "relative/pre", configDirectory: directory)),
                schedule: .migration),
            Registration(
                name: "pre-s3", provider: .s3(S3Target(bucket: "app-backups", accessKey: "AK")), schedule: .migration),
            Registration(
                name: "in-home",
                provider: .filesystem(
                    FilesystemTarget(path: "/root/dbbackup-test-backups", configDirectory: directory)),
                schedule: Schedule(kind: .daily, times: [time("04:00")])),
        ]
        for registration in registrations { try store.save(registration) }
        try sandbox.secrets.store("TOPSECRET-never-in-a-unit-1234", for: "month-end")
        try sandbox.secrets.store("TOPSECRET-never-in-a-unit-5678", for: "pre-s3")
        return store.load()
    }

    @Test(
        "generated units: escaped names, wants-links, %% in paths, no secret; every unit passes systemd-analyze verify")
    func generatedUnitsVerify() throws {
        let sandbox = try Sandbox()
        let loaded = try awkwardConfiguration(sandbox)
        #expect(loaded.errors.isEmpty)
        let output = "\(sandbox.root)/generator"
        try UnitGenerator(locations: sandbox.locations, config: loaded).write(to: output)

        let escaped = "dbbackup@weekly\\x2doff_site.timer"
        #expect(
            try runProcess("/usr/bin/systemd-escape", ["--template=dbbackup@.timer", "weekly-off_site"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines) == escaped)
        let timer = try String(contentsOfFile: "\(output)/\(escaped)", encoding: .utf8)
        #expect(timer.contains("OnCalendar=Mon,Thu *-*-* 03:15:00\n"))
        #expect(timer.contains("Persistent=true"))
        #expect(timer.contains("SourcePath=\(sandbox.locations.configDirectory)/registrations.d/weekly-off_site.toml"))
        #expect(timer.hasPrefix("# Generated by dbbackup-generator"))
        let nightly = try String(contentsOfFile: "\(output)/dbbackup@nightly.timer", encoding: .utf8)
        #expect(nightly.contains("OnCalendar=*-*-* 02:00:00 Europe/Prague\nOnCalendar=*-*-* 14:30:00 Europe/Prague\n"))
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/dbbackup.target.wants/\(escaped)")
                == "../\(escaped)")
        #expect(
            !FileManager.default.fileExists(atPath: "\(output)/dbbackup@pre.timer"),
            "migration registrations have no timer")

        let dropIn = try String(contentsOfFile: "\(output)/dbbackup@.service.d/50-dbbackup.conf", encoding: .utf8)
        #expect(dropIn.contains("-\"\(sandbox.root)/back ups/100%% \\\"full\\\"\""))
        let migration = try String(
            contentsOfFile: "\(output)/dbbackup-migration.service.d/50-dbbackup.conf", encoding: .utf8)
        #expect(
            migration.contains("LoadCredential=s3-secret.pre-s3:\(sandbox.locations.secretsDirectory)/pre-s3.secret"))
        #expect(migration.contains("\(sandbox.locations.configDirectory)/relative/pre"))
        #expect(!migration.contains("nightly"))
        #expect(dropIn.contains("-\(sandbox.root)/nightly"))

        let everything = try FileManager.default.subpathsOfDirectory(atPath: output).compactMap {
            try? String(contentsOfFile: "\(output)/\($0)", encoding: .utf8)
        }.joined()
        #expect(!everything.contains("TOPSECRET"))

        let verify = try runProcess(
            "/bin/bash", ["\(Self.repository)/scripts/systemd-container/verify-units.sh", output])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains(", 0 failed"))
        #expect(verify.stdout.contains("ok   verify dbbackup@weekly\\x2doff_site.timer"))
        #expect(verify.stdout.contains("ok   security dbbackup@.service"))
    }

    @Test("a broken registration file next to good ones still yields the good timers")
    func brokenNextToGood() throws {
        let sandbox = try Sandbox()
        _ = try awkwardConfiguration(sandbox)
        try sandbox.write(
            "provider = \"filesystem\"\npath = \"/b\"\n[schedule]\ntype = \"daily\"\ntimes = [\"25:00\"]\n",
            to: "etc/registrations.d/broken.toml")
        try sandbox.write("[Service]\nExecStart=/bin/sh -c 'rm -rf /'\n", to: "etc/registrations.d/injected.toml")
        let output = "\(sandbox.root)/generator"
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "dbbackup"
        ).path
        let result = try runProcess(
            binary,
            [
                "generate", "--config-dir", sandbox.locations.configDirectory, output, "\(output).early",
                "\(output).late",
            ])
        #expect(result.status == 0)
        #expect(result.stderr.contains("registrations.d/broken.toml"))
        #expect(result.stderr.contains("registrations.d/injected.toml"))
        let files = Set(sandbox.files(in: output))
        #expect(
            files.isSuperset(of: [
                "dbbackup@nightly.timer", "dbbackup@weekly\\x2doff_site.timer", "dbbackup@month\\x2dend.timer",
            ]))
        #expect(!files.contains { $0.contains("broken") || $0.contains("injected") })
        #expect(sandbox.files(in: "\(output).early").isEmpty)

        // --check is a dry run even when given the directory: it prints, writes nothing, and its
        // exit status says a registration would be skipped.
        let dry = "\(sandbox.root)/dry"
        try FileManager.default.createDirectory(atPath: dry, withIntermediateDirectories: true)
        let check = try runProcess(
            binary, ["generate", "--check", "--config-dir", sandbox.locations.configDirectory, dry])
        #expect(check.status == ExitStatus.configuration.code)
        #expect(check.stdout.contains("==> dbbackup@nightly.timer"))
        #expect(check.stderr.contains("registrations.d/broken.toml"))
        #expect(sandbox.files(in: dry).isEmpty)

        // Only a directory that cannot be written at all fails the generator.
        let blocked = try runProcess(
            binary, ["generate", "--config-dir", sandbox.locations.configDirectory, "\(sandbox.database)/x"])
        #expect(blocked.status != 0)
    }

    @Test(
        """
        the drop-ins run the services as the database file's owner and group, wait for the mounts, and bind paths \
        ProtectHome= hides
        """
    )
    func identityAndPaths() throws {
        let sandbox = try Sandbox()
        let loaded = try awkwardConfiguration(sandbox)
        #expect(chown(sandbox.database, 4321, 4322) == 0)
        let generator = UnitGenerator(locations: sandbox.locations, config: loaded)
        #expect(generator.identityProblem == nil)
        let files = Dictionary(uniqueKeysWithValues: generator.files().map { ($0.path, $0.contents) })
        for path in ["dbbackup@.service.d/50-dbbackup.conf", "dbbackup-migration.service.d/50-dbbackup.conf"] {
            let dropIn = try #require(files[path])
            #expect(dropIn.contains("\nUser=4321\nGroup=4322\n"), "\(path): \(dropIn)")
            #expect(dropIn.contains("\nEnvironment=DBBACKUP_SERVICE_IDENTITY=4321:4322\n"), "\(path)")
            #expect(!dropIn.contains("SupplementaryGroups="), "the database's group is Group= itself")
            let unit = try #require(dropIn.split(separator: "\n").first { $0.hasPrefix("RequiresMountsFor=") })
            #expect(
                unit.contains(" \(sandbox.root)") || unit.hasPrefix("RequiresMountsFor=\(sandbox.root) "),
                "the database directory: \(unit)")
            #expect(dropIn.range(of: "[Unit]")!.lowerBound < dropIn.range(of: "[Service]")!.lowerBound)
        }
        let instance = try #require(files["dbbackup@.service.d/50-dbbackup.conf"])
        #expect(instance.contains("\nProtectHome=tmpfs\nBindPaths=-/root/dbbackup-test-backups\n"), "\(instance)")
        #expect(
            !(instance.split(separator: "\n").first { $0.hasPrefix("ReadWritePaths=") } ?? "").contains("/root/"),
            "bound, not in ReadWritePaths=")
        #expect(instance.contains("RequiresMountsFor=") && instance.contains(" /root/dbbackup-test-backups"))
        let migration = try #require(files["dbbackup-migration.service.d/50-dbbackup.conf"])
        #expect(!migration.contains("ProtectHome="), "no migration registration lives under /home or /root")

        // A directory reachable through its group only (not the database's): a supplementary group.
        #expect(chown(sandbox.root, 0, 4400) == 0 && chmod(sandbox.root, 0o770) == 0)
        let grouped = UnitGenerator(locations: sandbox.locations, config: loaded).files().first {
            $0.path == "dbbackup@.service.d/50-dbbackup.conf"
        }
        #expect(grouped?.contents.contains("\nSupplementaryGroups=4400\n") == true)
        #expect(chmod(sandbox.root, 0o755) == 0)

        // The database cannot be looked at (not mounted yet, or missing): User=dbbackup stays,
        // and the generator says why, ", ignoring".
        try FileManager.default.removeItem(atPath: sandbox.database)
        let missing = UnitGenerator(locations: sandbox.locations, config: loaded)
        #expect(
            missing.identityProblem?.message.contains(
                "cannot read the owner of the database (stat \(sandbox.database): No such file or directory), ignoring")
                == true,
            "\(missing.identityProblem?.message ?? "nil")")
        #expect(missing.identityProblem?.priority == 4)
        let fallback = try #require(missing.files().first { $0.path == "dbbackup@.service.d/50-dbbackup.conf" })
        #expect(!fallback.contents.contains("User=") && !fallback.contents.contains("DBBACKUP_SERVICE_IDENTITY"))
        #expect(fallback.contents.contains("ReadWritePaths="))

        // At boot the generator runs before local file systems are mounted: the owner recorded
        // when root last applied the configuration stands in, for that database only.
        try ServiceIdentity(uid: 4321, gid: 4322).record(
            in: sandbox.locations.configDirectory, database: sandbox.database)
        let recorded = UnitGenerator(locations: sandbox.locations, config: loaded)
        #expect(recorded.identityProblem?.priority == 5)
        #expect(
            recorded.identityProblem?.message.contains(
                "using the owner recorded when the configuration was last applied, 4321:4322") == true)
        #expect(
            recorded.files().first { $0.path == "dbbackup@.service.d/50-dbbackup.conf" }?.contents.contains(
                "\nUser=4321\nGroup=4322\n") == true)
        try ServiceIdentity(uid: 4321, gid: 4322).record(
            in: sandbox.locations.configDirectory, database: "/elsewhere/app.db")
        #expect(
            UnitGenerator(locations: sandbox.locations, config: loaded).identityProblem?.priority == 4,
            "a record of another database does not count")
    }

    /// The [Service] lines of a static unit that make its sandbox and identity.
    static func sandboxLines(_ unit: String) throws -> [String] {
        let text = try String(contentsOfFile: "\(repository)/systemd/\(unit)", encoding: .utf8)
        return TransientCheck.assignments(text).filter {
            $0.section == "Service" && !TransientCheck.notCopied.contains($0.key)
        }.map { "\($0.key)=\($0.value)" }
    }

    @Test(
        """
        the two executor services have the same identity and sandbox lines; the migration service also writes \
        /run/dbbackup
        """
    )
    func identicalSandboxes() throws {
        let instance = try Self.sandboxLines("dbbackup@.service")
        let migration = try Self.sandboxLines("dbbackup-migration.service")
        #expect(instance.count > 30, "\(instance)")
        #expect(migration.filter { $0 != "ReadWritePaths=-/run/dbbackup" } == instance)
        #expect(
            instance.contains("User=dbbackup") && instance.contains("StateDirectoryMode=0700")
                && instance.contains("CapabilityBoundingSet="))
        #expect(
            !instance.contains { $0.hasPrefix("RuntimeDirectory") }, "systemd would hand /run/dbbackup to User= whole")
        for unit in ["dbbackup@.service", "dbbackup-migration.service"] {
            let text = try String(contentsOfFile: "\(Self.repository)/systemd/\(unit)", encoding: .utf8)
            #expect(text.contains("\nExecStartPre=+/usr/bin/dbbackup prepare-run "), "\(unit)")
        }
    }

    @Test(
        """
        the checks' transient unit gets every identity and sandbox line of the service, its drop-ins after it, \
        and none of its commands
        """
    )
    func transientProperties() throws {
        let sandbox = try Sandbox()
        let loaded = try awkwardConfiguration(sandbox)
        #expect(chown(sandbox.database, 4321, 4322) == 0)
        let dropIn = try #require(
            UnitGenerator(locations: sandbox.locations, config: loaded).files().first {
                $0.path == "dbbackup@.service.d/50-dbbackup.conf"
            })
        let unit = try String(contentsOfFile: "\(Self.repository)/systemd/dbbackup@.service", encoding: .utf8)
        let properties = TransientCheck.properties(
            TransientCheck.assignments(unit) + TransientCheck.assignments(dropIn.contents),
            instance: "weekly\\x2doff_site", unescapedInstance: "weekly-off_site")
        for line in try Self.sandboxLines("dbbackup@.service") {
            #expect(properties.contains(line), "\(line)")
        }
        // Later assignments win in systemd: the drop-in's identity comes after the static one.
        #expect(properties.lastIndex(of: "User=4321")! > properties.firstIndex(of: "User=dbbackup")!)
        #expect(properties.contains { $0.hasPrefix("RequiresMountsFor=") })
        #expect(
            properties.contains("ProtectHome=tmpfs") && properties.contains("BindPaths=-/root/dbbackup-test-backups"))
        #expect(
            !properties.contains {
                $0.hasPrefix("Exec") || $0.hasPrefix("LoadCredential") || $0.hasPrefix("Type=")
                    || $0.hasPrefix("Description=")
            })
        // Specifiers are resolved: properties over D-Bus are taken literally.
        #expect(
            properties.contains { $0.contains("100% \\\"full\\\"") },
            "%% becomes %: \(properties.filter { $0.contains("full") })")
        #expect(
            TransientCheck.properties(
                [.init(section: "Service", key: "ReadWritePaths", value: "/srv/%I/%i/%%")], instance: "a\\x2db",
                unescapedInstance: "a-b")
                == ["ReadWritePaths=/srv/a-b/a\\x2db/%"])
        // Continued lines and comments, as unit files have them.
        #expect(
            TransientCheck.assignments("[Service]\n# c\n; c\nSystemCallFilter=@system-service \\\n  @io-event\n")
                == [.init(section: "Service", key: "SystemCallFilter", value: "@system-service @io-event")])
    }
}

import BackupCore
import Foundation
import TestKit
import Testing

@Suite("status --check, status file and metrics", .serialized)
struct MonitoringTests {
    func check(_ cli: CLI, asUser user: String? = nil) throws -> CLI.Result {
        try cli.run(["status", "--check"], asUser: user)
    }

    @Test("status --check exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN with a summary line and perfdata")
    func pluginExitStatuses() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("pre")
        #expect(try cli("run", "pre").status == 0)
        #expect(try cli("run", "pre").status == 0)
        let ok = try check(cli)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.stdout.hasPrefix("DBBACKUP OK - 1 registration, last success: pre "), "\(ok.stdout)")
        #expect(ok.stdout.contains(" | pre_age=") && ok.stdout.contains("pre_kept=2;;;0;"), "\(ok.stdout)")

        // A delete that failed leaves its row in state pruning (what retention does when the store refuses).
        let registry = try BackupRegistry(path: "\(cli.stateDirectory)/registry.db")
        try registry.markPruning(try #require(try registry.storedBackups(registration: "pre").first).id)
        let warning = try check(cli)
        #expect(warning.status == 1, "\(warning.output)")
        #expect(
            warning.stdout.hasPrefix("DBBACKUP WARNING - pre: retention could not delete 1 old backup(s) yet"),
            "\(warning.stdout)")

        try FileManager.default.removeItem(atPath: cli.database)
        #expect(try cli("run", "pre").status == ExitStatus.snapshot.code)
        let critical = try check(cli)
        #expect(critical.status == 2, "\(critical.output)")
        #expect(critical.stdout.hasPrefix("DBBACKUP CRITICAL - pre: last run failed "), "\(critical.stdout)")
        #expect(critical.stdout.contains("\nWARNING pre: retention could not delete"), "\(critical.stdout)")

        let json = try cli.run(["status", "--check", "--json"])
        #expect(json.status == 2)
        let verdict = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(verdict["status"] as? String == "critical")
        #expect((verdict["summary"] as? String)?.hasPrefix("DBBACKUP CRITICAL - pre: last run failed") == true)
        let problems = try #require(verdict["problems"] as? [[String: Any]])
        #expect(problems.map { $0["severity"] as? String } == ["critical", "warning"])
        #expect(problems.allSatisfy { $0["registration"] as? String == "pre" && ($0["message"] as? String) != nil })

        try "[database]\npath = 3\n".write(
            toFile: "\(cli.configDirectory)/dbbackup.toml", atomically: true, encoding: .utf8)
        let unknown = try check(cli)
        #expect(unknown.status == 3, "\(unknown.output)")
        #expect(
            unknown.stdout.hasPrefix(
                "DBBACKUP UNKNOWN - the main configuration cannot be used: error: dbbackup.toml: database.path"),
            "\(unknown.stdout)")
    }

    @Test(
        """
        a lost registry is a WARNING while backups lie in a directory it does not know: retention and restore \
        latest no longer see them
        """
    )
    func lostRegistryWarns() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        #expect(try check(cli).status == 0)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: "\(cli.stateDirectory)/registry.db" + suffix)
        }
        #expect(try cli("run", "nightly").status == 0)
        #expect(try cli("run", "nightly").status == 0, "the run after says nothing of it any more")
        let warning = try check(cli)
        #expect(warning.status == 1, "\(warning.output)")
        #expect(
            warning.stdout.contains("nightly: 1 backup file(s)")
                && warning.stdout.contains("dbbackup registry rebuild --registration nightly"),
            "\(warning.stdout)")
        // The status file, what a monitoring user reads, says so too.
        let status = try String(contentsOfFile: "\(cli.stateDirectory)/monitor/status.json", encoding: .utf8)
        let facts = try #require(MonitorSnapshot(json: status)?.registrations["nightly"])
        #expect(facts.untracked == 1, "\(status)")
        #expect(try cli("registry", "rebuild").status == 0)
        #expect(try check(cli).status == 0)
    }

    @Test("a backup made while the clock was behind, and set right since, is not overdue: the check warns of the clock")
    func clockBehindWhenItRan() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("nightly", schedule: "daily", "--time", "02:00")
        #expect(try cli("run", "nightly").status == 0)
        // NTP had not set the clock yet (a dead RTC, a VM resumed): the run believes it is two days ago.
        #expect(try cli.run(["run", "nightly"], clock: RetentionSafetyTests.daysAgo(2)).status == 0)
        let checked = try check(cli)
        #expect(checked.status == 1, "\(checked.output)")
        #expect(checked.stdout.contains("nightly: its last success is dated"), "\(checked.stdout)")
        #expect(checked.stdout.contains("the clock was stepped forward by"), "\(checked.stdout)")
        #expect(!checked.stdout.contains("overdue:"), "\(checked.stdout)")
        // The status file, what a monitoring user reads, carries the boot clock too.
        let status = try String(contentsOfFile: "\(cli.stateDirectory)/monitor/status.json", encoding: .utf8)
        let facts = try #require(MonitorSnapshot(json: status)?.registrations["nightly"])
        #expect(facts.lastSuccess?.storedBoot != nil, "\(status)")
    }

    @Test("a user who may not open the registry is told to run as root, or to use status --check")
    func registryClosedToThisUser() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        #expect(chmod(cli.stateDirectory, 0o750) == 0)
        for arguments in [["status"], ["status", "--json"], ["list"]] {
            let result = try cli.run(arguments, asUser: "nobody")
            #expect(result.status != 0)
            #expect(
                result.stderr.contains("as root") && result.stderr.contains("dbbackup status --check"),
                "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("may write it"), "no hint to open the registry up: \(result.stderr)")
        }
    }

    @Test("a monitoring user reads the status file every run writes, through its group, and never the registry")
    func monitoringUser() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("pre")
        #expect(try cli("run", "pre").status == 0)
        let monitor = "\(cli.stateDirectory)/monitor"
        #expect(FileManager.default.fileExists(atPath: "\(monitor)/status.json"))

        // nobody is not in the status file's group yet.
        let denied = try check(cli, asUser: "nobody")
        #expect(denied.status == 3, "\(denied.output)")
        #expect(denied.stdout.contains("nobody may read neither the registry nor the status file"), "\(denied.stdout)")
        #expect(denied.stdout.contains("adduser nobody dbbackup-monitor"), "\(denied.stdout)")

        // As the package sets it up: the directory setgid to the monitoring group (here nobody's
        // own group), so every file a run writes there gets that group. On a host the directory
        // is /var/lib/dbbackup-monitor; here it lies inside the state directory, which nobody
        // may only pass through, as it may /var/lib.
        #expect(chmod(cli.stateDirectory, 0o751) == 0)
        let nogroup = try #require(getgrnam("nogroup")).pointee.gr_gid
        #expect(chown(monitor, 0, nogroup) == 0 && chmod(monitor, 0o2750) == 0)
        #expect(try cli("run", "pre").status == 0)
        var info = stat()
        #expect(stat("\(monitor)/status.json", &info) == 0 && info.st_gid == nogroup && info.st_mode & 0o777 == 0o640)
        #expect(
            !(try FileManager.default.contentsOfDirectory(atPath: monitor)).contains { $0.hasPrefix(".") },
            "temporary files left")

        let ok = try cli.run(["status", "--check", "--json"], asUser: "nobody")
        #expect(ok.status == 0, "\(ok.output)")
        let verdict = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        #expect(
            (verdict["source"] as? String)?.hasPrefix("status file \(monitor)/status.json of ") == true, "\(verdict)")
        // The registry stays closed to it.
        #expect(try cli.run(["list"], asUser: "nobody").status != 0)

        try FileManager.default.removeItem(atPath: cli.database)
        #expect(try cli("run", "pre").status == ExitStatus.snapshot.code)
        let critical = try check(cli, asUser: "nobody")
        #expect(critical.status == 2, "\(critical.output)")
        #expect(critical.stdout.contains("pre: last run failed"), "\(critical.stdout)")
    }

    @Test("every run rewrites the Prometheus metrics with the registry's figures")
    func metrics() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("pre")
        try cli.addRegistration("nightly", path: "n", schedule: "daily", "--time", "02:00", "--timezone", "UTC")
        #expect(try cli("run", "pre").status == 0)
        #expect(try cli("run", "nightly").status == 0)
        #expect(try cli("run", "nightly").status == 0)
        let metrics = try #require(cli.file("\(cli.stateDirectory)/monitor/dbbackup.prom"))
        func sample(_ name: String, _ registration: String) -> String? {
            metrics.split(separator: "\n").first { $0.hasPrefix("\(name){registration=\"\(registration)\"} ") }.map {
                String($0.split(separator: " ")[1])
            }
        }
        let backups = try #require(try cli.json("list", "nightly", "--json") as? [[String: Any]])
        let newest = try #require(backups.max { ($0["id"] as! Int) < ($1["id"] as! Int) })
        let created = ISO8601DateFormatter().date(from: newest["created_at"] as! String)!.timeIntervalSince1970
        let lastSuccess = try #require(
            sample("dbbackup_last_success_timestamp_seconds", "nightly").flatMap(Double.init))
        #expect(abs(lastSuccess - created) < 1, "\(metrics)")
        #expect(sample("dbbackup_backups_kept", "nightly") == "2")
        #expect(sample("dbbackup_last_success_size_bytes", "nightly") == String(newest["size"] as! Int))
        #expect(sample("dbbackup_last_attempt_success", "pre") == "1")
        #expect(sample("dbbackup_overdue_timestamp_seconds", "pre") == nil, "a migration registration is never overdue")
        let overdue = try #require(sample("dbbackup_overdue_timestamp_seconds", "nightly").flatMap(Double.init))
        // The next 02:00 UTC after the backup, plus the default hour of grace.
        let nextTwo = (floor((lastSuccess - 7200) / 86_400) + 1) * 86_400 + 7200
        #expect(overdue == nextTwo + 3600, "\(metrics)")
        #expect(metrics.contains("# TYPE dbbackup_last_attempt_duration_seconds gauge\n"))

        try FileManager.default.removeItem(atPath: cli.database)
        #expect(try cli("run", "nightly").status != 0)
        let after = try #require(cli.file("\(cli.stateDirectory)/monitor/dbbackup.prom"))
        #expect(after.contains("dbbackup_last_attempt_success{registration=\"nightly\"} 0\n"), "\(after)")
        #expect(
            after.contains(
                """
                dbbackup_last_success_timestamp_seconds{registration=\"nightly\"} \
                \(sample("dbbackup_last_success_timestamp_seconds", "nightly")!)\n
                """
            ))
    }
}

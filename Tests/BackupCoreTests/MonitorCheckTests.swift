import BackupCore
import Foundation
import Testing

@Suite("status --check verdicts")
struct MonitorCheckTests {
    func time(_ text: String) -> TimeOfDay {
        guard case .success(let time) = TimeOfDay.parse(text) else { fatalError(text) }
        return time
    }

    /// "2026-11-29 03:30:00" UTC.
    func at(_ text: String) -> Timestamp {
        let parts = text.split(whereSeparator: { "- :".contains($0) }).map { Int($0)! }
        let days = CivilDate(year: parts[0], month: parts[1], day: parts[2]).daysSinceEpoch
        return Timestamp(
            millisecondsSinceEpoch: (Int64(days) * 86_400 + Int64(parts[3] * 3600 + parts[4] * 60 + parts[5])) * 1000)
    }

    func registration(_ name: String, _ schedule: Schedule) -> Registration {
        Registration(
            name: name, provider: .filesystem(FilesystemTarget(path: "/b/\(name)", configDirectory: "/etc/dbbackup")),
            schedule: schedule)
    }

    func succeeded(at time: Timestamp, kept: Int = 1) -> RegistrationFacts {
        var facts = RegistrationFacts()
        facts.lastSuccess = .init(id: 7, at: time, size: 4096, durationMilliseconds: 120)
        facts.lastAttempt = .init(at: time, outcome: .stored, error: nil, durationMilliseconds: 120)
        facts.backupsKept = kept
        facts.bytesKept = Int64(kept) * 4096
        return facts
    }

    func check(
        _ registrations: [Registration], _ facts: [String: RegistrationFacts], now: Timestamp,
        configuredAt: [String: Timestamp] = [:],
        systemd: MonitorCheck.SystemdView? = nil, unusable: [ConfigProblem] = [], grace: Int = 3600,
        boot: BootInstant? = nil
    ) -> MonitorCheck.Result {
        MonitorCheck.evaluate(
            .init(
                registrations: registrations, unusableFiles: unusable, facts: facts, configuredAt: configuredAt,
                systemd: systemd, graceSeconds: grace, now: now, boot: boot), source: "test")
    }

    @Test("a daily registration is overdue once its next run plus the grace period has passed without a success")
    func overdueDaily() {
        let nightly = registration("nightly", Schedule(kind: .daily, times: [time("02:00")], timezone: "UTC"))
        let facts = ["nightly": succeeded(at: at("2026-11-28 02:00:05"))]
        let fine = check([nightly], facts, now: at("2026-11-29 02:59:00"))
        #expect(fine.status == .ok)
        #expect(fine.rows[0].dueAt == at("2026-11-29 02:00:00") && fine.rows[0].overdueAt == at("2026-11-29 03:00:00"))
        let late = check([nightly], facts, now: at("2026-11-29 03:30:00"))
        #expect(late.status == .critical)
        #expect(
            late.summary.hasPrefix(
                """
                DBBACKUP CRITICAL - nightly: overdue: its last success was 1d 1h ago (2026-11-28T02:00:05Z), and \
                a run was due at 2026-11-29T02:00:00Z
                """
            ),
            "\(late.summary)")
        #expect(
            late.text.contains(" | nightly_age=91795s;;89995;0; nightly_kept=1;;;0; nightly_size=4096B;;;0;"),
            "\(late.text)")
        // A run in progress is not overdue yet: its own timeout ends it, and a failure is reported then.
        let running = check(
            [nightly], facts, now: at("2026-11-29 03:30:00"),
            systemd: .init(scheduledTimers: ["dbbackup@nightly.timer"], runningServices: ["dbbackup@nightly.service"]))
        #expect(running.status == .ok)
    }

    @Test(
        """
        a last success dated in the future (the clock was ahead when it ran) is a WARNING: whether it is overdue \
        cannot be told from it
        """
    )
    func lastSuccessInTheFuture() {
        let nightly = registration("nightly", Schedule(kind: .daily, times: [time("02:00")], timezone: "UTC"))
        // A run made while the clock was a year ahead; the clock is right now, and nothing ran since.
        let facts = ["nightly": succeeded(at: at("2027-11-28 10:00:00"))]
        let result = check([nightly], facts, now: at("2026-12-20 10:00:00"))
        #expect(result.status == .warning, "\(result.text)")
        #expect(result.summary.contains("dated 2027-11-28T10:00:00Z, in the future"), "\(result.summary)")
        // A few minutes ahead is only clocks that disagree a little (a run, then the check elsewhere).
        #expect(check([nightly], facts, now: at("2027-11-28 09:58:00")).status == .ok)
    }

    @Test("a success made while the clock was behind, set right since, is judged by the boot clock: no overdue")
    func clockBehindWhenItRan() {
        let nightly = registration("nightly", Schedule(kind: .daily, times: [time("02:00")], timezone: "UTC"))
        // The clock said 2025-11-30 when the 02:00 run stored its backup, 10 minutes ago by the
        // boot clock; NTP has set it right since.
        var facts = succeeded(at: at("2025-11-30 02:00:05"))
        facts.lastSuccess?.durationMilliseconds = 55_000  // stored at 02:01:00
        facts.lastSuccess?.storedBoot = BootInstant(bootID: "b1", milliseconds: 5_000_000)
        let now = at("2026-11-30 02:11:00")
        let later = BootInstant(bootID: "b1", milliseconds: 5_600_000)
        let result = check([nightly], ["nightly": facts], now: now, boot: later)
        #expect(result.status == .warning, "\(result.text)")
        #expect(result.summary.contains("by the boot clock it ran 10m ago"), "\(result.summary)")
        #expect(result.summary.contains("stepped forward by 365d 0h"), "\(result.summary)")
        #expect(result.rows[0].lastSuccessAt == at("2026-11-30 02:00:05"))
        #expect(result.rows[0].dueAt == at("2026-12-01 02:00:00"))
        #expect(result.perfdata.hasPrefix("nightly_age=655s;;"), "\(result.perfdata)")
        // Of another boot the boot clock tells nothing: the recorded time is all there is.
        let rebooted = check(
            [nightly], ["nightly": facts], now: now, boot: BootInstant(bootID: "b2", milliseconds: 60_000))
        #expect(rebooted.status == .critical, "\(rebooted.text)")
        // Clocks that agree within 5 minutes are no step.
        let agreed = check([nightly], ["nightly": facts], now: at("2025-11-30 02:11:00"), boot: later)
        #expect(agreed.status == .ok, "\(agreed.text)")
    }

    @Test(
        "the allowance follows the calendar: a day the clocks skip the time, and months without day 31, are no misses")
    func overdueFollowsCalendar() {
        // 02:30 does not exist in Prague on 2027-03-28: the next run after the 27th is on the 29th.
        let prague = registration("nightly", Schedule(kind: .daily, times: [time("02:30")], timezone: "Europe/Prague"))
        let dst = check([prague], ["nightly": succeeded(at: at("2027-03-27 01:30:02"))], now: at("2027-03-28 23:00:00"))
        #expect(dst.status == .ok, "\(dst.summary)")
        #expect(dst.rows[0].dueAt == at("2027-03-29 00:30:00"))
        // Day 31 after January is March.
        let monthEnd = registration(
            "monthly", Schedule(kind: .monthly, times: [time("04:00")], days: [31], timezone: "UTC"))
        let month = check(
            [monthEnd], ["monthly": succeeded(at: at("2027-01-31 04:00:01"))], now: at("2027-03-01 12:00:00"))
        #expect(month.status == .ok)
        #expect(month.rows[0].dueAt == at("2027-03-31 04:00:00"))
        // Weekly on Monday and Thursday: after Monday's run the next is due Thursday.
        let weekly = registration(
            "weekly", Schedule(kind: .weekly, times: [time("03:00")], weekdays: [.mon, .thu], timezone: "UTC"))
        let missedThursday = check(
            [weekly], ["weekly": succeeded(at: at("2026-11-30 03:00:01"))], now: at("2026-12-03 04:01:00"))
        #expect(missedThursday.status == .critical)
    }

    @Test("never succeeded: overdue once a run was due after the registration was configured; migration never is")
    func neverSucceeded() {
        let nightly = registration("nightly", Schedule(kind: .daily, times: [time("02:00")], timezone: "UTC"))
        let pre = registration("pre", .migration)
        let configured = ["nightly": at("2026-11-28 15:00:00"), "pre": at("2020-01-01 00:00:00")]
        #expect(check([nightly, pre], [:], now: at("2026-11-29 02:30:00"), configuredAt: configured).status == .ok)
        let late = check([nightly, pre], [:], now: at("2026-11-29 03:01:00"), configuredAt: configured)
        #expect(late.status == .critical)
        #expect(late.problems.map(\.registration) == ["nightly"])
        #expect(
            late.problems[0].message.contains("it has never succeeded (configured 2026-11-28T15:00:00Z)"),
            "\(late.problems)")
        #expect(late.text.contains("pre_age=U;;;0;"))
    }

    @Test("a failed newest attempt and a missing timer are critical; systemd's view is used only where it runs")
    func failedAndMissingTimer() {
        let nightly = registration("nightly", Schedule(kind: .daily, times: [time("02:00")], timezone: "UTC"))
        let pre = registration("pre", .migration)
        var failed = succeeded(at: at("2026-11-29 02:00:01"))
        failed.lastAttempt = .init(
            at: at("2026-11-29 14:00:00"), outcome: .failed, error: "database /srv/app.db does not exist",
            durationMilliseconds: 3)
        let result = check(
            [nightly, pre], ["pre": failed], now: at("2026-11-29 15:00:00"),
            systemd: .init(scheduledTimers: [], runningServices: []))
        #expect(result.status == .critical)
        #expect(
            result.problems.map(\.line) == [
                """
                nightly: timer dbbackup@nightly.timer is missing: systemd lists no next run for it; run: dbbackup \
                apply
                """,
                "pre: last run failed 1h 0m ago (2026-11-29T14:00:00Z): database /srv/app.db does not exist",
            ])
        #expect(result.rows.map(\.timerScheduled) == [false, nil])
        // Without systemd (a chroot, a container without it) nothing is said about timers.
        #expect(
            check([nightly], [:], now: at("2026-11-29 15:00:00"), configuredAt: ["nightly": at("2026-11-29 14:00:00")])
                .status == .ok)
    }

    @Test(
        """
        retention that could not delete and suspect backups warn; critical outranks them; the JSON has the \
        Cockpit contract
        """
    )
    func warnings() throws {
        let pre = registration("pre", .migration)
        var pruning = succeeded(at: at("2026-11-29 02:00:01"))
        pruning.cleanupPending = 2
        let warning = check([pre], ["pre": pruning], now: at("2026-11-29 03:00:00"))
        #expect(warning.status == .warning)
        #expect(
            warning.summary
                == """
                DBBACKUP WARNING - pre: retention could not delete 2 old backup(s) yet; the next run retries \
                (see: journalctl -u 'dbbackup-migration.service')
                """
        )

        // The suspect rule reads the registry's flag of each kept backup.
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let runner = sandbox.runner(try sandbox.writeMain())
        let registered = try sandbox.filesystemRegistration("pre")
        _ = try runner.run(registered, trigger: .migration)
        try Data().write(to: URL(fileURLWithPath: sandbox.database))  // the database is emptied
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sandbox.database + suffix) }
        #expect(try runner.run(registered, trigger: .migration).suspect != nil)
        let records = try sandbox.registry().storedBackups(registration: "pre")
        let second = try #require(records.last)
        var suspect = succeeded(at: at("2026-11-29 02:00:08"))
        suspect.suspect = RegistrationFacts.suspectBackups(records)
        let flagged = check([pre], ["pre": suspect], now: at("2026-11-29 03:00:00"))
        #expect(flagged.status == .warning)
        #expect(
            flagged.problems.map(\.message) == [
                "backup \(second.id) of \(second.createdAt.rfc3339) looks wrong: \(second.suspect ?? "")"
            ])
        #expect(second.suspect?.hasPrefix("the database is empty") == true)

        let nightly = registration("nightly", Schedule(kind: .daily, times: [time("02:00")], timezone: "UTC"))
        let broken = ConfigProblem(
            file: "registrations.d/weekly.toml", field: "schedule.times[0]", value: "\"25:00\"",
            message: "hour 25 is out of range 00-23")
        let both = check(
            [pre, nightly], ["pre": pruning], now: at("2026-11-30 12:00:00"),
            configuredAt: ["nightly": at("2026-11-29 12:00:00")], unusable: [broken])
        #expect(both.status == .critical)
        #expect(both.problems.map(\.severity) == [.critical, .critical, .warning])
        #expect(both.problems.map(\.registration) == ["weekly", "nightly", "pre"])

        let json = try #require(try JSONSerialization.jsonObject(with: Data(both.value.json().utf8)) as? [String: Any])
        #expect(json["status"] as? String == "critical")
        #expect((json["summary"] as? String)?.hasPrefix("DBBACKUP CRITICAL - weekly: its file cannot be used") == true)
        let problems = try #require(json["problems"] as? [[String: Any]])
        #expect(problems.count == 3)
        #expect(Set(problems[0].keys) == ["registration", "severity", "message"])
        #expect(problems[2]["severity"] as? String == "warning")
        let rows = try #require(json["registrations"] as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["pre", "nightly"])
        #expect(rows[1]["overdue_at"] as? String == "2026-11-30T03:00:00Z")
    }

    @Test("nothing configured is a warning")
    func nothingConfigured() {
        let result = check([], [:], now: at("2026-11-29 03:00:00"))
        #expect(result.status == .warning)
        #expect(result.summary.contains("no registration is configured"))
        #expect(MonitorCheck.unknown("cannot read").text == "DBBACKUP UNKNOWN - cannot read\nUNKNOWN cannot read")
    }

    @Test(
        """
        facts come from the registry: the newest attempt, kept backups, retention's leftovers; the status file \
        keeps them
        """
    )
    func factsFromRegistry() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain(local: 2)
        let pre = try sandbox.filesystemRegistration("pre")
        let runner = sandbox.runner(config)
        for _ in 0..<3 { _ = try runner.run(pre, trigger: .migration) }
        let registry = try sandbox.registry()
        var facts = try RegistrationFacts.collect(registry, registration: pre)
        #expect(facts.backupsKept == 2 && facts.lastAttempt?.outcome == .stored && facts.cleanupPending == 0)
        #expect(facts.lastSuccess?.id == (try registry.storedBackups(registration: "pre").last?.id))
        #expect(facts.lastSuccess?.durationMilliseconds != nil)

        // A delete that failed leaves the row in state pruning: counted for the warning.
        let oldest = try #require(try registry.storedBackups(registration: "pre").first)
        try registry.markPruning(oldest.id)
        // Then a run fails: the newest attempt is the failure, the last success stays.
        try FileManager.default.removeItem(atPath: sandbox.database)
        #expect(throws: RunFailure.self) { _ = try runner.run(pre, trigger: .migration) }
        facts = try RegistrationFacts.collect(registry, registration: pre)
        #expect(facts.cleanupPending == 1 && facts.backupsKept == 1)
        #expect(facts.lastAttempt?.outcome == .failed)
        #expect(facts.lastAttempt?.error?.contains("does not exist") == true)
        #expect(facts.lastSuccess != nil)

        let snapshot = MonitorSnapshot(
            writtenAt: at("2026-11-29 03:00:00"), registrations: ["pre": facts, "never": RegistrationFacts()])
        #expect(MonitorSnapshot(json: snapshot.json) == snapshot)
        #expect(MonitorSnapshot(json: "{\"version\": 2}") == nil)
    }
}

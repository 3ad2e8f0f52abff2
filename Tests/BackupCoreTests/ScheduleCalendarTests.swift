import BackupCore
import Foundation
import Testing

@Suite("Schedule calendar")
struct ScheduleCalendarTests {
    func time(_ text: String) -> TimeOfDay {
        guard case .success(let time) = TimeOfDay.parse(text) else { fatalError(text) }
        return time
    }

    func timestamp(_ text: String) -> Timestamp {
        // "2027-03-26 12:00:00" (UTC)
        let parts = text.split(whereSeparator: { "- :".contains($0) }).map { Int($0)! }
        let days = CivilDate(year: parts[0], month: parts[1], day: parts[2]).daysSinceEpoch
        return Timestamp(
            millisecondsSinceEpoch: (Int64(days) * 86_400 + Int64(parts[3] * 3600 + parts[4] * 60 + parts[5])) * 1000)
    }

    /// systemd's own answer: the next `count` elapses after `base` (UTC), as "YYYY-MM-DD HH:MM:SS" UTC.
    func systemdElapses(_ expression: String, base: String, count: Int) throws -> [String] {
        let result = try runProcess(
            "/usr/bin/env",
            ["TZ=UTC", "systemd-analyze", "calendar", "--base-time=\(base) UTC", "--iterations=\(count)", expression])
        #expect(result.status == 0, "\(expression): \(result.stderr)")
        return result.stdout.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("Next elapse:") || line.contains("Iter. #") else { return nil }
            let words = line.split(separator: " ")
            return "\(words[words.count - 3]) \(words[words.count - 2])"
        }
    }

    func utcText(_ time: Timestamp) -> String {
        time.rfc3339.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
    }

    /// Around clock changes, in zones with odd rules: 30-minute summer time (Lord Howe), summer
    /// time in winter (Dublin's rule runs from October to March), a summer time suspended for
    /// Ramadan (Casablanca), none at all (Kolkata, Sao Paulo since 2019), beyond the tables'
    /// 2037 (the footer rule), and the host's own zone.
    static let cases: [(Schedule, String, Int)] = {
        func t(_ text: String) -> TimeOfDay {
            if case .success(let time) = TimeOfDay.parse(text) { return time }
            fatalError()
        }
        return [
            (Schedule(kind: .daily, times: [t("02:30")], timezone: "Europe/Prague"), "2027-03-26 12:00:00", 5),
            (Schedule(kind: .daily, times: [t("02:30")], timezone: "Europe/Prague"), "2026-10-23 12:00:00", 5),
            (
                Schedule(kind: .daily, times: [t("01:59"), t("02:00"), t("03:00")], timezone: "Europe/Prague"),
                "2027-03-27 12:00:00", 6
            ),
            (
                Schedule(kind: .daily, times: [t("02:00"), t("02:59"), t("03:00")], timezone: "Europe/Prague"),
                "2027-10-30 12:00:00", 6
            ),
            (
                Schedule(kind: .weekly, times: [t("01:30")], weekdays: [.sun], timezone: "America/New_York"),
                "2026-10-25 12:00:00", 3
            ),
            (
                Schedule(kind: .weekly, times: [t("02:15")], weekdays: [.sun, .wed], timezone: "America/New_York"),
                "2027-03-07 12:00:00", 4
            ),
            (
                Schedule(kind: .monthly, times: [t("04:00")], days: [31], timezone: "America/New_York"),
                "2026-01-01 00:00:00", 8
            ),
            (Schedule(kind: .monthly, times: [t("00:30")], days: [29, 30], timezone: "UTC"), "2028-01-15 00:00:00", 5),
            (
                Schedule(kind: .monthly, times: [t("02:30")], days: [28], timezone: "Europe/Prague"),
                "2027-02-01 00:00:00", 3
            ),
            (
                Schedule(kind: .daily, times: [t("02:00"), t("02:15")], timezone: "Australia/Lord_Howe"),
                "2026-10-02 12:00:00", 6
            ),
            (Schedule(kind: .daily, times: [t("01:45")], timezone: "Australia/Lord_Howe"), "2027-04-02 12:00:00", 4),
            (Schedule(kind: .daily, times: [t("01:30")], timezone: "Europe/Dublin"), "2026-10-23 12:00:00", 4),
            (Schedule(kind: .daily, times: [t("02:30")], timezone: "Africa/Casablanca"), "2027-01-25 12:00:00", 30),
            (Schedule(kind: .daily, times: [t("00:00")], timezone: "America/Sao_Paulo"), "2026-10-30 12:00:00", 4),
            (
                Schedule(kind: .weekly, times: [t("23:45")], weekdays: [.sat, .sun], timezone: "Asia/Kolkata"),
                "2026-12-30 12:00:00", 4
            ),
            (Schedule(kind: .daily, times: [t("02:30")], timezone: "Europe/Prague"), "2040-03-23 12:00:00", 4),
            (Schedule(kind: .daily, times: [t("02:30")], timezone: "America/Santiago"), "2027-04-02 12:00:00", 4),
            (Schedule(kind: .daily, times: [t("12:00"), t("06:00")]), "2026-06-01 00:00:00", 4),
        ]
    }()

    @Test("runs are when systemd-analyze calendar says they are, also across clock changes", arguments: 0..<cases.count)
    func agreesWithSystemd(index: Int) throws {
        let (schedule, base, count) = Self.cases[index]
        let expression = UnitGenerator.calendarExpressions(schedule)
        guard let calendar = ScheduleCalendar(schedule) else {
            Issue.record("no calendar for \(schedule)")
            return
        }
        var mine: [Timestamp] = []
        var cursor = timestamp(base)
        while mine.count < count, let next = calendar.nextRun(after: cursor) {
            mine.append(next)
            cursor = next
        }
        // systemd evaluates each OnCalendar= line on its own; the timer takes the earliest.
        var theirs: [String] = []
        for line in expression { theirs += try systemdElapses(line, base: base, count: count) }
        let expected = Array(Set(theirs).sorted().prefix(count))
        #expect(mine.map(utcText) == expected, "\(expression) after \(base)")
    }

    @Test("a spring-forward day skips a time the clocks jump over; a fall-back day repeats one, named with the change")
    func clockChanges() throws {
        let prague = try #require(
            ScheduleCalendar(Schedule(kind: .daily, times: [time("01:30"), time("02:30")], timezone: "Europe/Prague")))
        let changes = prague.clockChanges(from: timestamp("2026-11-30 10:00:00"), days: 365)
        #expect(
            changes.map { "\($0.kind) times[\($0.timeIndex)] \($0.date) \($0.from)-\($0.to)" } == [
                "skipped times[1] 2027-03-28 02:00-03:00",
                "repeated times[1] 2027-10-31 03:00-02:00",
            ])
        // Weekly on Monday never meets Prague's Sunday changes; the 28th of March 2027 is one.
        let monday = try #require(
            ScheduleCalendar(
                Schedule(kind: .weekly, times: [time("02:30")], weekdays: [.mon], timezone: "Europe/Prague")))
        #expect(monday.clockChanges(from: timestamp("2026-11-30 10:00:00"), days: 365).isEmpty)
        let monthly = try #require(
            ScheduleCalendar(Schedule(kind: .monthly, times: [time("02:30")], days: [28], timezone: "Europe/Prague")))
        #expect(
            monthly.clockChanges(from: timestamp("2026-11-30 10:00:00"), days: 365).map(\.date) == [
                CivilDate(year: 2027, month: 3, day: 28)
            ])
        // Lord Howe moves by half an hour: 02:00-02:30 is skipped, 01:30-02:00 repeated.
        let howe = try #require(
            ScheduleCalendar(
                Schedule(kind: .daily, times: [time("02:10"), time("01:40")], timezone: "Australia/Lord_Howe")))
        let halfHour = howe.clockChanges(from: timestamp("2026-07-01 00:00:00"), days: 365)
        #expect(halfHour.map(\.kind) == [.skipped, .repeated])
        #expect(halfHour.map { "\($0.from)-\($0.to)" } == ["02:00-02:30", "02:00-01:30"])
        // UTC never changes.
        let utc = try #require(ScheduleCalendar(Schedule(kind: .daily, times: [time("02:30")], timezone: "UTC")))
        #expect(utc.clockChanges(from: timestamp("2026-11-30 10:00:00"), days: 365).isEmpty)
    }

    @Test("DST warnings name the field, the dates within the next 12 months, the change and what systemd does")
    func daylightSavingWarnings() throws {
        let schedule = Schedule(kind: .daily, times: [time("01:00"), time("02:30")], timezone: "Europe/Prague")
        let warnings = DaylightSaving.warnings(
            schedule, file: "registrations.d/nightly.toml", now: timestamp("2026-11-30 10:00:00"))
        #expect(
            warnings.map(\.description) == [
                """
                warning: registrations.d/nightly.toml: schedule.times[1] = \"02:30\": does not exist on \
                2027-03-28 in Europe/Prague: the clocks jump from 02:00 to 03:00, and systemd skips a time that \
                does not exist, so that day has no backup at 02:30; choose a time outside 02:00-03:00, or accept \
                the missing backup
                """,
                """
                warning: registrations.d/nightly.toml: schedule.times[1] = \"02:30\": occurs twice on 2027-10-31 \
                in Europe/Prague: the clocks go back from 03:00 to 02:00, and systemd runs it once, at the first \
                02:30; nothing is lost; choose a time outside 02:00-03:00 for backups exactly a day apart
                """,
            ])
        // 12 months from a day after the fall-back: the next one is more than a year away.
        #expect(
            DaylightSaving.warnings(schedule, file: "f", now: timestamp("2026-10-26 00:00:00")).map(\.message).map {
                $0.prefix(30)
            }
                == ["does not exist on 2027-03-28 i"])
        // Two spring-forward days within a longer window are listed together.
        #expect(
            DaylightSaving.warnings(schedule, file: "f", now: timestamp("2026-11-30 10:00:00"), days: 730).first?
                .message
                .hasPrefix("does not exist on 2027-03-28 and 2028-03-26 in Europe/Prague") == true)
        // Casablanca's summer time pauses for Ramadan: back in February, forward in March.
        let casablanca = DaylightSaving.warnings(
            Schedule(kind: .daily, times: [time("02:30")], timezone: "Africa/Casablanca"), file: "f",
            now: timestamp("2026-11-30 10:00:00"))
        #expect(
            casablanca.map { String($0.message.prefix(34)) } == [
                "occurs twice on 2027-02-07 in Afri", "does not exist on 2027-03-14 in Af",
            ])
        #expect(
            DaylightSaving.warnings(Schedule(kind: .daily, times: [time("02:30")], timezone: "UTC"), file: "f").isEmpty)
        #expect(DaylightSaving.warnings(.migration, file: "f").isEmpty)
    }

    @Test("dates convert both ways, weekdays included, across leap years and before 1970")
    func civilDates() {
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            #expect(CivilDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        #expect(CivilDate(year: 2027, month: 3, day: 28).weekday == 0)  // a Sunday
        #expect(CivilDate(year: 1969, month: 12, day: 31).weekday == 3)  // a Wednesday
        #expect(
            CivilDate(year: 2000, month: 2, day: 29).daysSinceEpoch + 1
                == CivilDate(year: 2000, month: 3, day: 1).daysSinceEpoch)
        #expect(CivilDate.days(inMonth: 2, of: 1900) == 28 && CivilDate.days(inMonth: 2, of: 2000) == 29)
    }
}

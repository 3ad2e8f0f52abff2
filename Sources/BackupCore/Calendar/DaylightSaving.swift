/// Warnings about a schedule's times on the days the clocks change, for `config check` and
/// `registration add|edit`. They depend on today's date, so they are not part of reading a
/// configuration (the generator and every run read it, and would repeat them).
public enum DaylightSaving {
    /// A warning for each time of `schedule` that the clocks skip or pass twice on a day it
    /// runs within `days` days from `now`, naming those dates. `file` is where the schedule is
    /// written (`registrations.d/NAME.toml`, or `command line`).
    public static func warnings(
        _ schedule: Schedule, file: String, now: Timestamp = .now(), days: Int = 365
    ) -> [ConfigProblem] {
        guard let calendar = ScheduleCalendar(schedule) else { return [] }
        let zone = schedule.timezone.map { "in \($0)" } ?? "in the host's time zone (\(calendar.zone.name))"
        var grouped: [(key: String, changes: [ScheduleCalendar.ClockChange])] = []
        for change in calendar.clockChanges(from: now, days: days) {
            let key = "\(change.timeIndex) \(change.kind) \(change.from) \(change.to)"
            if let index = grouped.firstIndex(where: { $0.key == key }) {
                grouped[index].changes.append(change)
            } else {
                grouped.append((key, [change]))
            }
        }
        return grouped.map { _, changes in
            let change = changes[0]
            let time = schedule.times[change.timeIndex]
            let dates = list(changes.map(\.date.description))
            let window = change.kind == .skipped ? "\(change.from)-\(change.to)" : "\(change.to)-\(change.from)"
            let message: String
            let fix: String
            switch change.kind {
            case .skipped:
                message =
                    """
                    does not exist on \(dates) \(zone): the clocks jump from \(change.from) to \(change.to), and \
                    systemd skips a time that does not exist, so that day has no backup at \(time)
                    """
                fix = "choose a time outside \(window), or accept the missing backup"
            case .repeated:
                message =
                    """
                    occurs twice on \(dates) \(zone): the clocks go back from \(change.from) to \(change.to), and \
                    systemd runs it once, at the first \(time)
                    """
                fix = "nothing is lost; choose a time outside \(window) for backups exactly a day apart"
            }
            return ConfigProblem(
                .warning, file: file, field: "schedule.times[\(change.timeIndex)]", value: "\"\(time)\"",
                message: message, fix: fix)
        }
    }

    /// `a`, `a and b`, `a, b and c`.
    static func list(_ items: [String]) -> String {
        items.count > 1 ? items.dropLast().joined(separator: ", ") + " and " + items.last! : items.first ?? ""
    }
}

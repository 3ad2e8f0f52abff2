/// When systemd starts a schedule's timer, read from the schedule as the generator writes its
/// `OnCalendar=` lines, in the schedule's time zone. Two rules of systemd's (252), checked
/// against `systemd-analyze calendar` by the tests:
/// - a local time the clocks skip (spring forward: 02:30 in Prague on 2027-03-28) does not
///   run that day, and no later time stands in for it;
/// - a local time the clocks pass twice (fall back) runs once, at its first occurrence.
/// A day of the month that a month lacks (31 in April) is skipped as well.
public struct ScheduleCalendar: Sendable {
    public let schedule: Schedule
    public let zone: ZoneRules

    /// Nil for a migration schedule (it has no times) or a zone whose rules cannot be read.
    public init?(_ schedule: Schedule) {
        guard schedule.kind != .migration, !schedule.times.isEmpty, let zone = ZoneRules.load(schedule.timezone) else {
            return nil
        }
        self.init(schedule, zone: zone)
    }

    init(_ schedule: Schedule, zone: ZoneRules) {
        self.schedule = schedule
        self.zone = zone
    }

    /// Whether the schedule runs on this date at all.
    public func runs(on date: CivilDate) -> Bool {
        switch schedule.kind {
        case .migration: false
        case .daily: true
        case .weekly: schedule.weekdays.contains { $0.posixNumber == date.weekday }
        case .monthly: schedule.days.contains(date.day)
        }
    }

    /// The local time of `time` on `date`, in seconds since 1970-01-01 00:00 local.
    static func local(_ date: CivilDate, _ time: TimeOfDay) -> Int64 {
        Int64(date.daysSinceEpoch) * 86_400 + Int64(time.hour * 3600 + time.minute * 60)
    }

    /// The runs on one date, as UTC seconds, ascending.
    func runs(onDate date: CivilDate) -> [Int64] {
        guard runs(on: date) else { return [] }
        return schedule.times.compactMap { zone.instants(local: Self.local(date, $0)).first }.sorted()
    }

    /// The local date at a UTC second.
    func localDate(at utc: Int64) -> CivilDate {
        CivilDate(daysSinceEpoch: Int(floorDivide(utc + Int64(zone.offset(at: utc)), 86_400)))
    }

    /// The first run strictly after `time`, searching up to `days` days ahead.
    public func nextRun(after time: Timestamp, days: Int = 400) -> Timestamp? {
        let after = floorDivide(time.millisecondsSinceEpoch, 1000)
        let first = localDate(at: after).daysSinceEpoch - 1
        for day in first...(first + days) {
            // A day's runs are ascending; a run of the next day is always later.
            if let run = runs(onDate: CivilDate(daysSinceEpoch: day)).first(where: {
                $0 * 1000 > time.millisecondsSinceEpoch
            }) {
                return Timestamp(millisecondsSinceEpoch: run * 1000)
            }
        }
        return nil
    }

    /// Every run in `[from, to)`, ascending.
    public func runs(from: Timestamp, to: Timestamp) -> [Timestamp] {
        var result: [Timestamp] = []
        var cursor = Timestamp(millisecondsSinceEpoch: from.millisecondsSinceEpoch - 1)
        while let next = nextRun(after: cursor), next < to {
            result.append(next)
            cursor = next
        }
        return result
    }

    /// A clock change on a day the schedule runs that makes one of its times skipped or doubled.
    public struct ClockChange: Sendable, Equatable {
        public enum Kind: Sendable { case skipped, repeated }
        public let kind: Kind
        /// Index into the schedule's times.
        public let timeIndex: Int
        public let date: CivilDate
        /// The local times of the change: `02:00` → `03:00` (spring forward), `03:00` → `02:00` (fall back).
        public let from: TimeOfDay
        public let to: TimeOfDay
    }

    /// The clock changes that skip or repeat one of the schedule's times on a day it runs,
    /// from `start` for `days` days.
    public func clockChanges(from start: Timestamp, days: Int) -> [ClockChange] {
        let first = localDate(at: floorDivide(start.millisecondsSinceEpoch, 1000)).daysSinceEpoch
        var changes: [ClockChange] = []
        for day in first..<(first + days) {
            let date = CivilDate(daysSinceEpoch: day)
            guard runs(on: date) else { continue }
            for (index, time) in schedule.times.enumerated() {
                let local = Self.local(date, time)
                let instants = zone.instants(local: local)
                guard instants.count != 1 else { continue }
                // The change is the one nearest this local time: search from a day before.
                let searchStart = local - Int64(zone.offset(at: local)) - 86_400
                guard let change = zone.nextChange(after: searchStart, within: 2 * 86_400) else { continue }
                let before = Int64(zone.offset(at: change - 1))
                let after = Int64(zone.offset(at: change))
                changes.append(
                    ClockChange(
                        kind: instants.isEmpty ? .skipped : .repeated, timeIndex: index, date: date,
                        from: Self.timeOfDay(change + before), to: Self.timeOfDay(change + after)))
            }
        }
        return changes
    }

    static func timeOfDay(_ local: Int64) -> TimeOfDay {
        let seconds = Int(local - floorDivide(local, 86_400) * 86_400)
        return TimeOfDay(hour: seconds / 3600, minute: seconds % 3600 / 60)!
    }
}

extension Weekday {
    /// 0 = Sunday … 6 = Saturday, as `CivilDate.weekday` counts.
    var posixNumber: Int {
        switch self {
        case .sun: 0
        case .mon: 1
        case .tue: 2
        case .wed: 3
        case .thu: 4
        case .fri: 5
        case .sat: 6
        }
    }
}

import Glibc
import Synchronization
import SystemCalls

/// A 24-hour time of day, written `HH:MM`.
public struct TimeOfDay: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int

    public init?(hour: Int, minute: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.hour = hour
        self.minute = minute
    }

    /// Parses `HH:MM` (also `H:MM`). Returns why not, for the error message.
    public static func parse(_ text: String) -> Result<TimeOfDay, TimeParseError> {
        // H:MM or HH:MM, ASCII digits: looked at as bytes.
        let parts = text.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        let digits = { (part: Substring.UTF8View) in
            part.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
        let number = { (part: Substring.UTF8View) in part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } }
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2, parts.allSatisfy(digits) else {
            return .failure(TimeParseError(reason: "is not a time of day in 24-hour HH:MM form"))
        }
        let (hour, minute) = (number(parts[0]), number(parts[1]))
        guard (0...23).contains(hour) else {
            return .failure(TimeParseError(reason: "hour \(hour) is out of range 00-23"))
        }
        guard (0...59).contains(minute) else {
            return .failure(TimeParseError(reason: "minute \(minute) is out of range 00-59"))
        }
        return .success(TimeOfDay(hour: hour, minute: minute)!)
    }

    public var description: String {
        (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute)
    }

    public static func < (a: TimeOfDay, b: TimeOfDay) -> Bool { (a.hour, a.minute) < (b.hour, b.minute) }
}

public struct TimeParseError: Error, Sendable { public let reason: String }

public enum Weekday: String, CaseIterable, Sendable, Comparable {
    case mon, tue, wed, thu, fri, sat, sun

    /// Accepts `mon`, `Mon`, `monday`, `Monday`.
    public init?(parsing text: String) {
        let lower = text.lowercased()
        if let day = Weekday(rawValue: lower) {
            self = day
            return
        }
        if let day = Weekday.allCases.first(where: { $0.fullName == lower }) {
            self = day
            return
        }
        return nil
    }

    var fullName: String {
        switch self {
        case .mon: "monday"
        case .tue: "tuesday"
        case .wed: "wednesday"
        case .thu: "thursday"
        case .fri: "friday"
        case .sat: "saturday"
        case .sun: "sunday"
        }
    }

    /// As systemd writes it in OnCalendar=: `Mon`.
    public var systemdName: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    public static func < (a: Weekday, b: Weekday) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// When a registration runs: before every migration, or at times of day on every day,
/// chosen weekdays, or chosen days of the month, optionally in an IANA time zone.
public struct Schedule: Hashable, Sendable {
    public enum Kind: String, CaseIterable, Sendable { case migration, daily, weekly, monthly }

    public var kind: Kind
    public var times: [TimeOfDay]
    public var weekdays: [Weekday]
    public var days: [Int]
    public var timezone: String?

    public init(
        kind: Kind, times: [TimeOfDay] = [], weekdays: [Weekday] = [], days: [Int] = [], timezone: String? = nil
    ) {
        self.kind = kind
        self.times = times
        self.weekdays = weekdays
        self.days = days
        self.timezone = timezone
    }

    public static let migration = Schedule(kind: .migration)

    /// A short human summary: `daily at 02:00, 14:00 (Europe/Prague)`.
    public var summary: String {
        let at = times.map(\.description).joined(separator: ", ")
        let zone = timezone.map { " (\($0))" } ?? ""
        switch kind {
        case .migration: return "before every migration"
        case .daily: return "daily at \(at)\(zone)"
        case .weekly: return "weekly on \(weekdays.map(\.systemdName).joined(separator: ",")) at \(at)\(zone)"
        case .monthly: return "monthly on day \(days.map(String.init).joined(separator: ",")) at \(at)\(zone)"
        }
    }

    /// Checks the combination of fields; each problem names its field. `unreadableLists` names
    /// the lists (`times`, `weekdays`, `days`) that were given but had no valid entry: those
    /// entries are reported already, and the list counts as given, not as missing.
    func validate(sink: ProblemSink, prefix: String, unreadableLists: Set<String> = []) {
        let field = { (name: String) in prefix.isEmpty ? name : "\(prefix).\(name)" }
        let hasTimes = !times.isEmpty || unreadableLists.contains("times")
        let hasWeekdays = !weekdays.isEmpty || unreadableLists.contains("weekdays")
        let hasDays = !days.isEmpty || unreadableLists.contains("days")
        switch kind {
        case .migration:
            if hasTimes {
                sink.error(
                    field("times"), nil, "is not used by a migration schedule",
                    fix: "remove it, or choose a daily, weekly or monthly schedule")
            }
        case .daily, .weekly, .monthly:
            if !hasTimes {
                sink.error(
                    field("times"), nil, "a \(kind.rawValue) schedule needs at least one time",
                    fix: "add e.g. times = [\"02:00\"]")
            }
        }
        if kind == .weekly && !hasWeekdays {
            sink.error(
                field("weekdays"), nil, "a weekly schedule needs at least one weekday",
                fix: "add e.g. weekdays = [\"mon\", \"thu\"]")
        }
        if kind != .weekly && hasWeekdays {
            sink.error(
                field("weekdays"), nil, "only a weekly schedule takes weekdays",
                fix: "remove it, or use type = \"weekly\"")
        }
        if kind == .monthly && !hasDays {
            sink.error(
                field("days"), nil, "a monthly schedule needs at least one day of the month",
                fix: "add e.g. days = [1, 15]")
        }
        if kind != .monthly && hasDays {
            sink.error(
                field("days"), nil, "only a monthly schedule takes days of the month",
                fix: "remove it, or use type = \"monthly\"")
        }
        // Days outside 1-31 were reported where they were read, and are not among `days`.
        // systemd skips a day a month lacks (it does not move it to the month's end), so a
        // month loses that backup whether or not earlier days are chosen too.
        if kind == .monthly, let missing = Self.shortMonths(days) {
            sink.warning(
                field("days"), nil,
                """
                days 29-31 do not occur in every month: \(missing); those months get no backup on that day \
                (systemd does not move it to the month's last day)
                """,
                fix: "choose days 1-28 (e.g. 28 for the end of the month), or accept the gap")
        }
        if let timezone {
            if kind == .migration {
                sink.error(
                    field("timezone"), "\"\(timezone)\"", "is not used by a migration schedule", fix: "remove it")
            } else {
                Self.validate(timezone: timezone, sink: sink, field: field("timezone"))
            }
        }
        if Set(times).count != times.count {
            sink.warning(field("times"), nil, "lists a time twice", fix: "remove the duplicate")
        }
    }

    /// Which chosen days of 29-31 some months lack, and in which months: `day 31 in February,
    /// April, June, September and November`. Nil when every month has every chosen day.
    static func shortMonths(_ days: [Int]) -> String? {
        let months = [
            "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December",
        ]
        let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        let named = Set(days).filter { $0 > 28 }.sorted().map { day -> String in
            if day == 29 { return "day 29 in February of common years" }
            let lacking = months.indices.filter { lengths[$0] < day }.map { months[$0] }
            let list =
                lacking.count > 1 ? lacking.dropLast().joined(separator: ", ") + " and " + lacking.last! : lacking[0]
            return "day \(day) in \(list)"
        }
        return named.isEmpty ? nil : named.joined(separator: "; ")
    }

    /// A time zone must exist whatever the type of schedule (also when the type is wrong).
    static func validate(timezone: String, sink: ProblemSink, field: String) {
        if !TimeZoneName.isValid(timezone) {
            sink.error(
                field, "\"\(timezone)\"", "is not a known IANA time zone",
                fix: "use a name from /usr/share/zoneinfo, e.g. \"Europe/Prague\" or \"UTC\"")
        }
    }
}

/// IANA zone names are validated against the system's zoneinfo database, as systemd does.
enum TimeZoneName {
    /// Answers already looked up by this process: the generator checks the zone of every
    /// registration, and most share one.
    private static let known = Mutex<[String: Bool]>([:])

    static func isValid(_ name: String) -> Bool {
        if let answer = known.withLock({ $0[name] }) { return answer }
        let answer = lookUp(name)
        known.withLock { $0[name] = answer }
        return answer
    }

    private static func lookUp(_ name: String) -> Bool {
        // Each component a name: systemd refuses `Europe//Prague` or `./UTC`, which open() would accept.
        guard !name.isEmpty, name.count < 64,
            name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ !["", ".", ".."].contains($0) }),
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/_+-".contains($0)) })
        else { return false }
        let path = "/usr/share/zoneinfo/\(name)"
        guard let fd = try? FileSystem.open(path, O_RDONLY) else { return false }
        defer { FileSystem.close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = magic.withUnsafeMutableBytes { (try? Syscalls.read(fd, into: $0, path: path)) ?? 0 }
        return count == 4 && magic == Array("TZif".utf8)
    }
}

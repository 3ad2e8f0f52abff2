import Glibc
import SystemCalls

/// A time zone's UTC offsets over time, read from the system's zoneinfo file (TZif, RFC 8536):
/// its table of transitions, and after the last one the POSIX TZ rule in the file's footer
/// (Debian's files list transitions up to 2037; "slim" files stop much earlier).
///
/// dbbackup reads the files itself rather than switching `TZ` and calling `mktime`, which
/// changes the process environment under any other thread; systemd reads the same files.
public struct ZoneRules: Sendable {
    /// The zone as people know it: `Europe/Prague`, or `Etc/UTC` for the host's default.
    public let name: String
    /// UTC seconds of each transition, ascending, and the offset (seconds east of UTC) from it on.
    let transitions: [Int64]
    let offsets: [Int32]
    /// The offset before the first transition (RFC 8536: time type 0).
    let initialOffset: Int32
    let footer: PosixZoneRule?

    static let zoneinfo = "/usr/share/zoneinfo"

    /// The rules of an IANA zone, or of the host's local time (`/etc/localtime`, which is what
    /// systemd uses for a calendar without a zone) when `zone` is nil. Nil when the file is
    /// missing or unreadable; a host without /etc/localtime runs on UTC, as glibc does.
    public static func load(_ zone: String?) -> ZoneRules? {
        if let zone {
            guard TimeZoneName.isValid(zone), let bytes = try? FileSystem.readAll("\(zoneinfo)/\(zone)") else {
                return nil
            }
            return parse(bytes, name: zone)
        }
        guard let bytes = try? FileSystem.readAll("/etc/localtime") else { return utc(name: "UTC") }
        return parse(bytes, name: hostZoneName ?? "local time")
    }

    /// The name /etc/localtime links to, e.g. `Europe/Prague`.
    static var hostZoneName: String? {
        guard let target = try? Syscalls.readLink("/etc/localtime"), !target.isEmpty else { return nil }
        guard let range = target.firstRange(of: "zoneinfo/") else { return target }
        return String(target[range.upperBound...])
    }

    static func utc(name: String) -> ZoneRules {
        ZoneRules(name: name, transitions: [], offsets: [], initialOffset: 0, footer: nil)
    }

    /// Parses a TZif file of any version; nil when it is not one.
    static func parse(_ bytes: [UInt8], name: String) -> ZoneRules? {
        var reader = BigEndianReader(bytes)
        guard let header = reader.tzifHeader() else { return nil }
        var body = header
        var timeSize = 4
        if header.version >= 2 {
            // Skip the version 1 block; the 64-bit block and the footer follow it.
            guard reader.skip(header.dataLength(timeSize: 4)), let second = reader.tzifHeader() else { return nil }
            body = second
            timeSize = 8
        }
        var transitions: [Int64] = []
        for _ in 0..<body.timeCount {
            guard let time = timeSize == 8 ? reader.int64() : reader.int32().map(Int64.init) else { return nil }
            transitions.append(time)
        }
        var typeIndices: [Int] = []
        for _ in 0..<body.timeCount {
            guard let index = reader.uint8() else { return nil }
            typeIndices.append(Int(index))
        }
        var typeOffsets: [Int32] = []
        for _ in 0..<body.typeCount {
            guard let offset = reader.int32(), reader.skip(2) else { return nil }
            typeOffsets.append(offset)
        }
        guard !typeOffsets.isEmpty, typeIndices.allSatisfy({ $0 < typeOffsets.count }),
            reader.skip(body.charCount + body.leapCount * (timeSize + 4) + body.isStdCount + body.isUTCount)
        else { return nil }
        var footer: PosixZoneRule?
        if header.version >= 2, let text = reader.footer() {
            footer = PosixZoneRule(parsing: text)
        }
        return ZoneRules(
            name: name, transitions: transitions, offsets: typeIndices.map { typeOffsets[$0] },
            initialOffset: typeOffsets[0], footer: footer)
    }

    /// The offset from UTC (seconds east) in effect at the UTC second `utc`.
    public func offset(at utc: Int64) -> Int32 {
        guard let last = transitions.last else { return footer?.offset(at: utc) ?? initialOffset }
        if utc >= last, let footer { return footer.offset(at: utc) }
        if utc < transitions[0] { return initialOffset }
        // The last transition at or before `utc`.
        var low = 0
        var high = transitions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if transitions[middle] <= utc { low = middle } else { high = middle - 1 }
        }
        return offsets[low]
    }

    /// The UTC seconds whose local time (seconds since 1970-01-01 00:00 local) is `local`:
    /// none when the clocks skip it, two when they pass it twice, else one. Ascending.
    public func instants(local: Int64) -> [Int64] {
        // The offsets in force within a day either side: a zone changes at most once in that
        // span, so these include the offset before and after any change near `local`.
        var candidates: Set<Int32> = []
        for sample in stride(from: local - 93_600, through: local + 93_600, by: 10_800) {
            candidates.insert(offset(at: sample))
        }
        return candidates.map { local - Int64($0) }.filter { Int64(offset(at: $0)) == local - $0 }.sorted()
    }

    /// The UTC second of the first change of offset after `start`, within `within` seconds.
    func nextChange(after start: Int64, within: Int64) -> Int64? {
        let initial = offset(at: start)
        var low = start
        var high = start + within
        guard offset(at: high) != initial else { return nil }
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if offset(at: middle) == initial { low = middle } else { high = middle }
        }
        return high
    }
}

/// The POSIX TZ rule of a TZif footer, e.g. `CET-1CEST,M3.5.0,M10.5.0/3` (with RFC 8536's
/// extensions: hours up to ±167 in rule times, negative times).
struct PosixZoneRule: Sendable, Equatable {
    enum RuleDay: Sendable, Equatable {
        /// `Jn`: day 1-365, February 29 never counted.
        case julianNoLeap(Int)
        /// `n`: day 0-365, February 29 counted.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday d (0 = Sunday) of week w (5 = the last) of month m.
        case monthWeekDay(month: Int, week: Int, weekday: Int)
    }

    struct Daylight: Sendable, Equatable {
        let offset: Int32
        let start: RuleDay
        let startTime: Int64
        let end: RuleDay
        let endTime: Int64
    }

    /// Seconds east of UTC (the TZ string writes them west of UTC: `CET-1` is UTC+1).
    let standardOffset: Int32
    let daylight: Daylight?

    init?(parsing text: String) {
        var scanner = Substring(text)
        guard Self.skipName(&scanner), let standard = Self.duration(&scanner) else { return nil }
        standardOffset = Int32(-standard)
        guard !scanner.isEmpty else {
            daylight = nil
            return
        }
        guard Self.skipName(&scanner) else { return nil }
        var dstOffset = standardOffset + 3600
        if let first = scanner.first, first != "," {
            guard let written = Self.duration(&scanner) else { return nil }
            dstOffset = Int32(-written)
        }
        // No rule given: POSIX leaves it to the implementation; glibc uses the US rule.
        var rules = scanner.isEmpty ? Substring(",M3.2.0,M11.1.0") : scanner
        guard rules.first == "," else { return nil }
        rules = rules.dropFirst()
        guard let (start, startTime) = Self.ruleDay(&rules), rules.first == "," else { return nil }
        rules = rules.dropFirst()
        guard let (end, endTime) = Self.ruleDay(&rules), rules.isEmpty else { return nil }
        daylight = Daylight(offset: dstOffset, start: start, startTime: startTime, end: end, endTime: endTime)
    }

    func offset(at utc: Int64) -> Int32 {
        guard let daylight else { return standardOffset }
        let year = CivilDate(daysSinceEpoch: Int(floorDivide(utc + Int64(standardOffset), 86_400))).year
        // Rule times are local: the start in standard time, the end in daylight time.
        let start =
            Int64(Self.date(daylight.start, year: year).daysSinceEpoch) * 86_400 + daylight.startTime
            - Int64(standardOffset)
        let end =
            Int64(Self.date(daylight.end, year: year).daysSinceEpoch) * 86_400 + daylight.endTime
            - Int64(daylight.offset)
        let inDaylight = start < end ? (start <= utc && utc < end) : !(end <= utc && utc < start)
        return inDaylight ? daylight.offset : standardOffset
    }

    static func date(_ day: RuleDay, year: Int) -> CivilDate {
        let january1 = CivilDate(year: year, month: 1, day: 1).daysSinceEpoch
        switch day {
        case .julianNoLeap(let n):
            return CivilDate(daysSinceEpoch: january1 + n - 1 + (CivilDate.isLeap(year) && n >= 60 ? 1 : 0))
        case .zeroBased(let n):
            return CivilDate(daysSinceEpoch: january1 + n)
        case .monthWeekDay(let month, let week, let weekday):
            let first = CivilDate(year: year, month: month, day: 1)
            var day = 1 + (weekday - first.weekday + 7) % 7 + 7 * (week - 1)
            while day > CivilDate.days(inMonth: month, of: year) { day -= 7 }
            return CivilDate(year: year, month: month, day: day)
        }
    }

    /// A zone abbreviation: letters, or anything in `<…>` (`<+0330>`).
    private static func skipName(_ scanner: inout Substring) -> Bool {
        if scanner.first == "<" {
            guard let close = scanner.firstIndex(of: ">") else { return false }
            scanner = scanner[scanner.index(after: close)...]
            return true
        }
        let name = scanner.prefix { $0.isLetter }
        scanner = scanner.dropFirst(name.count)
        return name.count >= 3
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    private static func duration(_ scanner: inout Substring) -> Int64? {
        var sign: Int64 = 1
        if let first = scanner.first, first == "+" || first == "-" {
            sign = first == "-" ? -1 : 1
            scanner = scanner.dropFirst()
        }
        var total: Int64 = 0
        for (index, unit) in [Int64(3600), 60, 1].enumerated() {
            if index > 0 {
                guard scanner.first == ":" else { break }
                scanner = scanner.dropFirst()
            }
            let digits = scanner.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int64(digits) else { return nil }
            scanner = scanner.dropFirst(digits.count)
            total += value * unit
        }
        return sign * total
    }

    /// A rule day with its optional `/time` (default 02:00).
    private static func ruleDay(_ scanner: inout Substring) -> (RuleDay, Int64)? {
        func number() -> Int? {
            let digits = scanner.prefix { $0.isASCII && $0.isNumber }
            scanner = scanner.dropFirst(digits.count)
            return Int(digits)
        }
        let day: RuleDay
        switch scanner.first {
        case "J":
            scanner = scanner.dropFirst()
            guard let n = number(), (1...365).contains(n) else { return nil }
            day = .julianNoLeap(n)
        case "M":
            scanner = scanner.dropFirst()
            guard let month = number(), scanner.first == "." else { return nil }
            scanner = scanner.dropFirst()
            guard let week = number(), scanner.first == "." else { return nil }
            scanner = scanner.dropFirst()
            guard let weekday = number(), (1...12).contains(month), (1...5).contains(week), (0...6).contains(weekday)
            else { return nil }
            day = .monthWeekDay(month: month, week: week, weekday: weekday)
        default:
            guard let n = number(), (0...365).contains(n) else { return nil }
            day = .zeroBased(n)
        }
        var time: Int64 = 7200
        if scanner.first == "/" {
            scanner = scanner.dropFirst()
            guard let written = duration(&scanner) else { return nil }
            time = written
        }
        return (day, time)
    }
}

/// Reads the big-endian fields of a TZif file.
private struct BigEndianReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    struct Header {
        let version: Int
        let isUTCount, isStdCount, leapCount, timeCount, typeCount, charCount: Int

        func dataLength(timeSize: Int) -> Int {
            timeCount * timeSize + timeCount + typeCount * 6 + charCount + leapCount * (timeSize + 4) + isStdCount
                + isUTCount
        }
    }

    mutating func tzifHeader() -> Header? {
        guard position + 44 <= bytes.count, Array(bytes[position..<position + 4]) == Array("TZif".utf8) else {
            return nil
        }
        let versionByte = bytes[position + 4]
        position += 20
        var counts: [Int] = []
        for _ in 0..<6 {
            guard let count = int32(), count >= 0 else { return nil }
            counts.append(Int(count))
        }
        return Header(
            version: versionByte == 0 ? 1 : Int(versionByte) - Int(UInt8(ascii: "0")),
            isUTCount: counts[0], isStdCount: counts[1], leapCount: counts[2],
            timeCount: counts[3], typeCount: counts[4], charCount: counts[5])
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, position + count <= bytes.count else { return false }
        position += count
        return true
    }

    mutating func uint8() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func int32() -> Int32? {
        guard position + 4 <= bytes.count else { return nil }
        defer { position += 4 }
        return bytes[position..<position + 4].reduce(Int32(0)) { ($0 << 8) | Int32($1) }
    }

    mutating func int64() -> Int64? {
        guard position + 8 <= bytes.count else { return nil }
        defer { position += 8 }
        return bytes[position..<position + 8].reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    }

    /// The footer: a TZ string between two newlines.
    mutating func footer() -> String? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\n") else { return nil }
        let start = position + 1
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

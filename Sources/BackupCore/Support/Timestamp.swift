#if canImport(Glibc)
import Glibc
#endif

/// A UTC instant with millisecond precision, formatted the two ways dbbackup writes time:
/// RFC 3339 for people and JSON, and the compact form that goes into backup file names.
public struct Timestamp: Comparable, Hashable, Sendable {
    public let millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(millisecondsSinceEpoch: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millisecondsSinceEpoch < b.millisecondsSinceEpoch }

    private var fields: tm {
        var seconds = time_t(millisecondsSinceEpoch / 1000)
        var result = tm()
        gmtime_r(&seconds, &result)
        return result
    }

    private static func pad(_ value: Int32, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `2026-11-26T02:00:00Z`
    public var rfc3339: String {
        let t = fields
        return "\(Self.pad(t.tm_year + 1900, 4))-\(Self.pad(t.tm_mon + 1, 2))-\(Self.pad(t.tm_mday, 2))"
            + "T\(Self.pad(t.tm_hour, 2)):\(Self.pad(t.tm_min, 2)):\(Self.pad(t.tm_sec, 2))Z"
    }

    /// `20261126T020000Z`, as in `db_v42_20261126T020000Z.db`.
    public var compact: String {
        let t = fields
        return "\(Self.pad(t.tm_year + 1900, 4))\(Self.pad(t.tm_mon + 1, 2))\(Self.pad(t.tm_mday, 2))"
            + "T\(Self.pad(t.tm_hour, 2))\(Self.pad(t.tm_min, 2))\(Self.pad(t.tm_sec, 2))Z"
    }

    /// Milliseconds from `self` to `later`.
    public func milliseconds(until later: Timestamp) -> Int64 { later.millisecondsSinceEpoch - millisecondsSinceEpoch }
}

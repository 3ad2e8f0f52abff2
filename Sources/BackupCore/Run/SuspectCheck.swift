/// Whether a new backup looks wrong next to the last good one of its registration.
///
/// An application's database does not normally become empty, shrink to less than half (SQLite
/// files only shrink by VACUUM), or go back to an older schema version. When it does, the
/// database was emptied, truncated or replaced, and the backup of it must not push the good
/// backups out of retention: it is stored, marked suspect, and reported loudly until a person
/// confirms it (`dbbackup confirm`). Without a good backup to compare with (the first backup of
/// a new application, whose database may well be empty), nothing is suspect.
public enum SuspectCheck {
    /// Why `size` bytes at schema `version` look wrong next to `baseline`, or nil.
    public static func reason(size: Int64, version: String, baseline: BackupRecord?) -> String? {
        guard let baseline, let baselineSize = baseline.plainSize ?? baseline.size else { return nil }
        let last = "the last good backup (id \(baseline.id), \(baseline.createdAt.rfc3339))"
        if size == 0 && baselineSize > 0 {
            return "the database is empty (0 bytes), while \(last) held \(byteCount(baselineSize))"
        }
        if size * 2 < baselineSize {
            return
                "the database is \(byteCount(size)), less than half of \(last), which held \(byteCount(baselineSize))"
        }
        if let previous = baseline.version, SchemaVersionOrder.isOlder(version, than: previous) {
            return "the schema version \(version) is older than \(previous), the version of \(last)"
        }
        return nil
    }

    static func byteCount(_ bytes: Int64) -> String {
        bytes < 1 << 20 ? "\(bytes) bytes" : "\((bytes * 10 >> 20) / 10).\((bytes * 10 >> 20) % 10) MiB"
    }
}

/// Orders schema versions where that is meaningful: whole numbers (`PRAGMA user_version`) and
/// dotted numbers (`1.10.2`) compare by their numbers; anything else (names, dates mixed with
/// words) is never called older.
public enum SchemaVersionOrder {
    public static func isOlder(_ version: String, than other: String) -> Bool {
        guard let a = numbers(version), let b = numbers(other) else { return false }
        for (x, y) in zip(a, b) where x != y { return x < y }
        return a.count < b.count
    }

    static func numbers(_ version: String) -> [Int]? {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        let numbers = parts.map { part in part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) ? Int(part) : nil }
        guard !numbers.isEmpty, numbers.allSatisfy({ $0 != nil }) else { return nil }
        return numbers.compactMap { $0 }
    }
}

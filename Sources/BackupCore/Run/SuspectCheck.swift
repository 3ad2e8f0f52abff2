/// Whether a new backup looks wrong next to the last good one of its registration.
///
/// An application's database does not normally become empty, shrink to less than half (SQLite
/// files only shrink by VACUUM), or go back to an older schema version. When it does, the
/// database was emptied, truncated or replaced, and the backup of it must not push the good
/// backups out of retention: it is stored, marked suspect, and reported loudly until a person
/// confirms it (`dbbackup confirm`). Without a good backup to compare with (the first backup of
/// a new application, whose database may well be empty), nothing is suspect.
///
/// Deleted rows leave their pages in the file, as free pages: a database emptied by `DELETE`
/// keeps its size. So what it holds (`dataSize`, the bytes of its pages in use) is compared
/// too, where the baseline recorded it.
public enum SuspectCheck {
    /// Why `size` bytes (`dataSize` of them in use, where known) at schema `version` look wrong
    /// next to `baseline`, the last good backup of the same database, or nil. `anyDatabase`,
    /// the registration's last good backup of whichever database, judges only an empty file:
    /// `init` pointed at the wrong path or at a file not yet in place.
    public static func reason(
        size: Int64, dataSize: Int64? = nil, version: String, baseline: BackupRecord?,
        anyDatabase: BackupRecord? = nil
    ) -> String? {
        if size == 0, let other = baseline ?? anyDatabase, let otherSize = other.plainSize ?? other.size,
            otherSize > 0
        {
            return "the database is empty (0 bytes), while \(describe(other)) held \(byteCount(otherSize))"
        }
        guard let baseline, let baselineSize = baseline.plainSize ?? baseline.size else { return nil }
        let last = describe(baseline)
        if size * 2 < baselineSize {
            return
                "the database is \(byteCount(size)), less than half of \(last), which held \(byteCount(baselineSize))"
        }
        if let dataSize, let baselineData = baseline.dataSize, dataSize * 2 < baselineData {
            return
                """
                the database holds \(byteCount(dataSize)) of data (its file is \(byteCount(size)): the rest are free \
                pages, as deleted rows leave them), less than half of the \(byteCount(baselineData)) of data in \
                \(last)
                """
        }
        if let previous = baseline.version, SchemaVersionOrder.isOlder(version, than: previous) {
            return "the schema version \(version) is older than \(previous), the version of \(last)"
        }
        return nil
    }

    static func describe(_ backup: BackupRecord) -> String {
        "the last good backup (id \(backup.id), \(backup.createdAt.rfc3339))"
    }

    static func byteCount(_ bytes: Int64) -> String {
        // Tenths of a MiB. In Swift `>>` binds tighter than `*`: the parentheses are needed.
        let tenths = (bytes * 10) >> 20
        return bytes < 1 << 20 ? "\(bytes) bytes" : "\(tenths / 10).\(tenths % 10) MiB"
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

/// The journal's rules for field names (systemd.journal-fields(7), journal-file.c):
/// 1-64 characters of A-Z, 0-9 and '_', not starting with a digit; names starting with
/// '_' are trusted fields only journald may set.
public enum JournalField {
    public static let maxNameLength = 64

    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maxNameLength else { return false }
        guard bytes[0] != UInt8(ascii: "_"), !isDigit(bytes[0]) else { return false }
        return bytes.allSatisfy { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// Turns an arbitrary key (e.g. swift-log metadata "db.path") into a valid field
    /// name: uppercased, other characters as '_', a leading '_' or digit prefixed with
    /// `prefix` (default "F"), cut to 64 characters.
    public static func sanitizedName(_ key: String, prefix: String = "F") -> String {
        var out: [UInt8] = key.utf8.map { byte in
            if isUpper(byte) || isDigit(byte) { return byte }
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { return byte - 32 }
            return UInt8(ascii: "_")
        }
        if out.isEmpty || out[0] == UInt8(ascii: "_") || isDigit(out[0]) {
            out = Array(prefix.utf8) + (out.first == UInt8(ascii: "_") ? out : [UInt8(ascii: "_")] + out)
        }
        return String(decoding: out.prefix(maxNameLength), as: UTF8.self)
    }

    private static func isUpper(_ b: UInt8) -> Bool { b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") }
    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
}

/// Syslog priorities as the journal's PRIORITY= field uses them.
public enum JournalPriority: Int, Sendable, Comparable {
    case emergency = 0, alert, critical, error, warning, notice, info, debug

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The bytes TOML's syntax is made of, by name, for the two readers that go through a
/// document byte by byte: `PlainTOML` (the generator's fast path) and `TOMLGuard` (the
/// checks before toml++).
extension UInt8 {
    static let newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r"), space = UInt8(ascii: " "),
        tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#"), openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}"), equals = UInt8(ascii: "="),
        comma = UInt8(ascii: ",")
    static let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
    static let dot = UInt8(ascii: "."), underscore = UInt8(ascii: "_"), minus = UInt8(ascii: "-"),
        plus = UInt8(ascii: "+"), colon = UInt8(ascii: ":")

    var isASCIIDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isASCIILetterOrDigit: Bool { isASCIIDigit || (self | 0x20 >= 0x61 && self | 0x20 <= 0x7A) }
    /// TOML allows tab but no other control character in strings and comments.
    var isAllowedInText: Bool { self == .tab || (self >= 0x20 && self != 0x7F) }
}

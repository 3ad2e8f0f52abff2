/// The plain TOML that registration files are written in, read without toml++.
///
/// Why: the generator reads every registration file at each boot and `daemon-reload`. Through
/// `TOMLGuard`, toml++ and TOMLKit's conversion, a registration file of a few lines cost some
/// 65,000 instructions, two thirds of the generator's own work with 1,000 registrations; read
/// here, it costs a few thousand.
///
/// What it reads: comments, blank lines, `[table]` headers with a bare name, and `key = value`
/// with a bare key, where a value is a string without escapes (basic or literal, one line),
/// a decimal integer, a boolean, or an array of those (over several lines, with comments and
/// a trailing comma). That is everything the command line writes, and what the README shows.
/// Anything else, valid or not (escapes, dotted or quoted keys, floats, dates, inline tables,
/// multi-line strings, a key given twice, control characters), makes `parse` return nil, and
/// the caller reads the text with toml++ as before, which also words every syntax error. A
/// test holds the two to the same result on every document this reader accepts.
enum PlainTOML {
    static func parse(_ text: String) -> [String: ConfigValue]? {
        var text = text
        return text.withUTF8 { bytes in
            var reader = Reader(bytes: bytes)
            return reader.document()
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }
        private func peek(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

        mutating func document() -> [String: ConfigValue]? {
            var root: [String: ConfigValue] = [:]
            var table: (name: String, entries: [String: ConfigValue])?
            while true {
                skipSpaces()
                guard let byte = current else { break }
                switch byte {
                case .newline, .carriageReturn, .hash:
                    guard endOfLine() else { return nil }
                case .openBracket:
                    index += 1
                    skipSpaces()
                    guard let name = bareKey() else { return nil }  // also `[[array]]` and `[a.b]`
                    skipSpaces()
                    guard current == .closeBracket else { return nil }
                    index += 1
                    guard endOfLine() else { return nil }
                    if let done = table { root[done.name] = .table(done.entries) }
                    guard root[name] == nil else { return nil }  // a table or key defined twice
                    table = (name, [:])
                default:
                    guard let key = bareKey() else { return nil }
                    skipSpaces()
                    guard current == .equals else { return nil }
                    index += 1
                    skipSpaces()
                    guard let value = value(nested: false), endOfLine() else { return nil }
                    if table != nil {
                        guard table!.entries.updateValue(value, forKey: key) == nil else { return nil }
                    } else {
                        guard root.updateValue(value, forKey: key) == nil else { return nil }
                    }
                }
            }
            if let done = table { root[done.name] = .table(done.entries) }
            return root
        }

        private mutating func skipSpaces() { while current == .space || current == .tab { index += 1 } }

        /// Spaces, an optional comment, and the end of the line (or of the text).
        private mutating func endOfLine() -> Bool {
            skipSpaces()
            if current == .hash {
                while let byte = current, byte != .newline, byte != .carriageReturn {
                    guard byte.isAllowedInText else { return false }
                    index += 1
                }
            }
            switch current {
            case nil: return true
            case .newline?:
                index += 1
                return true
            case .carriageReturn? where peek(1) == .newline:
                index += 2
                return true
            default: return false
            }
        }

        /// Letters, digits, `_` and `-`.
        private mutating func bareKey() -> String? {
            let start = index
            while let byte = current, byte.isASCIILetterOrDigit || byte == .underscore || byte == .minus { index += 1 }
            guard index > start else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        private mutating func value(nested: Bool) -> ConfigValue? {
            guard let byte = current else { return nil }
            switch byte {
            case .quote, .apostrophe:
                return string(quote: byte)
            case UInt8(ascii: "t") where matches("true"):
                index += 4
                return endsValue ? .bool(true) : nil
            case UInt8(ascii: "f") where matches("false"):
                index += 5
                return endsValue ? .bool(false) : nil
            case .openBracket where !nested:
                return array()
            case .plus, .minus, UInt8(ascii: "0")...UInt8(ascii: "9"):
                return integer()
            default:
                return nil
            }
        }

        private func matches(_ word: StaticString) -> Bool {
            (0..<word.utf8CodeUnitCount).allSatisfy { peek($0) == word.utf8Start[$0] }
        }

        /// Whether what follows may end a value: white space, a comma, `]`, a comment, a line
        /// break or the end (`truex`, `12ab`, `1.5` and `1e3` are not plain values).
        private var endsValue: Bool {
            switch current {
            case nil, .space?, .tab?, .comma?, .closeBracket?, .hash?, .newline?, .carriageReturn?: true
            default: false
            }
        }

        /// A one-line string without escapes (a backslash in a basic string is one).
        private mutating func string(quote: UInt8) -> ConfigValue? {
            guard !(peek(1) == quote && peek(2) == quote) else { return nil }  // multi-line
            index += 1
            let start = index
            while let byte = current, byte != quote {
                guard byte.isAllowedInText, !(quote == .quote && byte == .backslash) else { return nil }
                index += 1
            }
            guard current == quote else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            index += 1
            return .string(text)
        }

        /// A decimal integer of at most 18 digits, without underscores or leading zeros.
        private mutating func integer() -> ConfigValue? {
            var negative = false
            if current == .plus || current == .minus {
                negative = current == .minus
                index += 1
            }
            let start = index
            var number = 0
            while let byte = current, byte.isASCIIDigit {
                // More digits than 18 are declined below.
                if index - start < 18 { number = number * 10 + Int(byte - UInt8(ascii: "0")) }
                index += 1
            }
            let digits = index - start
            guard digits > 0, digits <= 18, !(digits > 1 && bytes[start] == UInt8(ascii: "0")), endsValue else {
                return nil
            }
            return .integer(negative ? -number : number)
        }

        /// `[a, b, ...]`, one level deep, over lines, with comments and a trailing comma.
        private mutating func array() -> ConfigValue? {
            index += 1
            var items: [ConfigValue] = []
            while true {
                guard skipBlank() else { return nil }
                if current == .closeBracket { break }
                guard let item = value(nested: true), skipBlank() else { return nil }
                items.append(item)
                if current == .comma {
                    index += 1
                } else if current != .closeBracket {
                    return nil
                }
            }
            index += 1
            return .array(items)
        }

        /// Spaces, line breaks and comments between an array's items.
        private mutating func skipBlank() -> Bool {
            while let byte = current {
                switch byte {
                case .space, .tab, .newline: index += 1
                case .carriageReturn:
                    guard peek(1) == .newline else { return false }
                    index += 2
                case .hash:
                    while let byte = current, byte != .newline, byte != .carriageReturn {
                        guard byte.isAllowedInText else { return false }
                        index += 1
                    }
                default: return true
                }
            }
            return true
        }
    }
}

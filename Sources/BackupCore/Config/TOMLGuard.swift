/// A lexical check of TOML text before toml++ (inside TOMLKit) parses it.
///
/// Why two parsers: toml++ 3 as bundled with TOMLKit 0.6.0 (the only TOML library in the
/// package mirror) aborts the whole process on some input — failed assertions on `[` alone on
/// a line or `days = [1, }15]`, found by fuzzing, in release builds too, and a stack overflow
/// (SIGSEGV) on arrays nested thousands deep. One bad registration file must not crash
/// `config check`, `status`, a migration run or the generator (which would lose every timer
/// at boot), so the text is first checked here against the TOML that configuration files use:
/// comments, `[table]` and `[[array]]` headers with bare, quoted or dotted names, and
/// `key = value` with strings (basic, literal, multi-line), numbers, booleans, dates, arrays
/// and inline tables, nested at most `maxDepth` deep, in at most `maxBytes`. Anything else is
/// reported with its line here; what passes is parsed, and its finer errors reported, by
/// toml++. This check recurses only as deep as `maxDepth`, so it cannot overflow either.
struct TOMLGuard {
    /// Configuration files are a few dozen lines; these bounds are far above any real one.
    static let maxBytes = 1 << 20
    static let maxDepth = 32
    /// The text's UTF-8 bytes: everything this check looks for is ASCII, and no byte of a
    /// multi-byte character is (the generator reads a thousand files at boot: a byte costs
    /// a comparison here, where a `Character` cost a Unicode property lookup).
    private let text: [UInt8]
    private var index = 0
    private var line = 1
    private var depth = 0
    private let file: String

    static func check(_ text: String, file: String) throws(ConfigProblem) {
        guard text.utf8.count <= maxBytes else { throw tooLarge(file: file) }
        var guardian = TOMLGuard(text: Array(text.utf8), file: file)
        try guardian.document()
    }

    static func tooLarge(file: String) -> ConfigProblem {
        ConfigProblem(
            file: file, field: nil, message: "is larger than \(maxBytes >> 20) MiB, which no configuration file needs",
            fix: "check that this is the file you meant; a registration is a few lines")
    }

    private init(text: [UInt8], file: String) {
        self.text = text
        self.file = file
    }

    private var current: UInt8? { index < text.count ? text[index] : nil }
    private func peek(_ offset: Int) -> UInt8? { index + offset < text.count ? text[index + offset] : nil }

    /// The character at the current position, for a message.
    private var currentCharacter: String {
        let end = text[index...].dropFirst().firstIndex { $0 & 0xC0 != 0x80 } ?? text.count
        return String(decoding: text[index..<end], as: UTF8.self)
    }

    private mutating func advance() {
        if current == .newline { line += 1 }
        index += 1
    }

    private func fail(_ what: String) -> ConfigProblem {
        ConfigProblem(
            file: file, field: nil, message: "not valid TOML at line \(line): \(what)",
            fix: "write settings as key = value, e.g. times = [\"02:00\"], under headers like [schedule]")
    }

    private mutating func skipSpaces() { while current == .space || current == .tab { advance() } }

    /// Spaces, line breaks and comments (inside arrays).
    private mutating func skipBlank() {
        while let c = current {
            if c == .space || c == .tab || c == .newline || c == .carriageReturn {
                advance()
            } else if c == .hash {
                skipComment()
            } else {
                return
            }
        }
    }

    private mutating func skipComment() { while let c = current, c != .newline { advance() } }

    private mutating func endOfLine() throws(ConfigProblem) {
        skipSpaces()
        if current == .hash { skipComment() }
        if current == .carriageReturn { advance() }
        guard current == nil || current == .newline else {
            throw fail("unexpected \"\(currentCharacter)\" after a value")
        }
    }

    private mutating func document() throws(ConfigProblem) {
        while current != nil {
            skipSpaces()
            switch current {
            case nil: return
            case .newline?, .carriageReturn?: advance()
            case .hash?: skipComment()
            case .openBracket?:
                advance()
                let array = current == .openBracket
                if array { advance() }
                skipSpaces()
                try key()
                skipSpaces()
                guard current == .closeBracket else { throw fail("a table header needs a name and a closing ]") }
                advance()
                if array {
                    guard current == .closeBracket else { throw fail("an array-of-tables header ends with ]]") }
                    advance()
                }
                try endOfLine()
            default:
                try key()
                skipSpaces()
                guard current == .equals else { throw fail("a key needs = and a value") }
                advance()
                skipSpaces()
                try value()
                try endOfLine()
            }
            if current == .newline { advance() }
        }
    }

    /// A bare, quoted or dotted key.
    private mutating func key() throws(ConfigProblem) {
        while true {
            skipSpaces()
            if current == .quote || current == .apostrophe {
                try singleLineString()
            } else {
                let start = index
                while let c = current, c.isASCIILetterOrDigit || c == .underscore || c == .minus { advance() }
                guard index > start else { throw fail("a key is missing") }
            }
            skipSpaces()
            guard current == .dot else { return }
            advance()
        }
    }

    private mutating func value() throws(ConfigProblem) {
        guard let c = current else { throw fail("a value is missing") }
        switch c {
        case .quote, .apostrophe:
            if peek(1) == c && peek(2) == c { try multiLineString(c) } else { try singleLineString() }
        case .openBracket:
            try elements(
                until: .closeBracket, keyed: false,
                else: "array elements are separated by commas and the array ends with ]")
        case .openBrace:
            try elements(
                until: .closeBrace, keyed: true,
                else: "an inline table's entries are separated by commas and it ends with }")
        default:
            // Numbers, booleans, dates, inf and nan: one token of their characters.
            let start = index
            while let d = current,
                d.isASCIILetterOrDigit || d == .plus || d == .minus || d == .dot || d == .underscore || d == .colon
            { advance() }
            // Dates may have one space between day and time: 2026-11-26 02:00:00.
            if current == .space, let next = peek(1), next.isASCIIDigit, index - start == 10 {
                advance()
                while let d = current,
                    d.isASCIIDigit || d == .colon || d == .dot || d == .plus || d == .minus || d == UInt8(ascii: "Z")
                { advance() }
            }
            guard index > start else { throw fail("\"\(currentCharacter)\" cannot start a value; strings need quotes") }
        }
    }

    /// The elements of an array (values; line breaks and comments allowed between them) or of
    /// an inline table (key = value, on one line), after the opening bracket.
    private mutating func elements(until closing: UInt8, keyed: Bool, else problem: String) throws(ConfigProblem) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else {
            throw fail("arrays and inline tables nest more than \(Self.maxDepth) deep")
        }
        advance()
        skipBetweenElements(keyed)
        while current != closing {
            if keyed {
                try key()
                skipSpaces()
                guard current == .equals else { throw fail("an inline table needs key = value") }
                advance()
                skipSpaces()
            }
            try value()
            skipBetweenElements(keyed)
            if current == .comma {
                advance()
                skipBetweenElements(keyed)
            } else if current != closing {
                throw fail(problem)
            }
        }
        advance()
    }

    private mutating func skipBetweenElements(_ keyed: Bool) {
        if keyed { skipSpaces() } else { skipBlank() }
    }

    private mutating func singleLineString() throws(ConfigProblem) {
        guard let quote = current else { return }
        advance()
        while let c = current {
            if c == .newline { break }
            if c == quote {
                advance()
                return
            }
            if quote == .quote && c == .backslash { advance() }
            advance()
        }
        throw fail("a string is not closed on its line")
    }

    private mutating func multiLineString(_ quote: UInt8) throws(ConfigProblem) {
        for _ in 0..<3 { advance() }
        while let c = current {
            if c == quote && peek(1) == quote && peek(2) == quote {
                for _ in 0..<3 { advance() }
                while current == quote { advance() }  // up to two quotes may end the content
                return
            }
            if quote == .quote && c == .backslash { advance() }
            advance()
        }
        throw fail("a multi-line string is not closed")
    }
}

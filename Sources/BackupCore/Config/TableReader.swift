/// Reads typed fields out of one configuration table, reporting every wrong type, missing
/// field and unknown key to a `ProblemSink` with its full dotted name.
struct TableReader {
    let table: [String: ConfigValue]
    let prefix: String
    let sink: ProblemSink
    /// The keys asked for. A list, not a set: a table has a handful of keys, and comparing
    /// them costs less than hashing each (the generator reads a thousand tables at boot).
    private var known: [String] = []

    init(_ table: [String: ConfigValue], prefix: String = "", sink: ProblemSink) {
        self.table = table
        self.prefix = prefix
        self.sink = sink
    }

    func name(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    private mutating func value(_ key: String, required: Bool, example: String) -> ConfigValue? {
        known.append(key)
        guard let value = table[key] else {
            if required { sink.error(name(key), nil, "is missing", fix: "add it, e.g. \(key) = \(example)") }
            return nil
        }
        return value
    }

    private func wrongType(_ key: String, _ value: ConfigValue, expected: String, example: String) {
        sink.error(
            name(key), value.written, "must be \(expected), not \(value.typeName)", fix: "e.g. \(key) = \(example)")
    }

    /// The value of `key` as `unwrap` takes it out; a value it does not take is reported as
    /// not `expected` (the type it wants, in words).
    private mutating func typed<Value>(
        _ key: String, required: Bool, expected: String, example: String, _ unwrap: (ConfigValue) -> Value?
    ) -> Value? {
        guard let value = value(key, required: required, example: example) else { return nil }
        guard let unwrapped = unwrap(value) else {
            wrongType(key, value, expected: expected, example: example)
            return nil
        }
        return unwrapped
    }

    mutating func string(_ key: String, required: Bool = false, example: String = "\"…\"") -> String? {
        typed(key, required: required, expected: "a string", example: example) {
            if case .string(let text) = $0 { text } else { nil }
        }
    }

    mutating func integer(_ key: String, required: Bool = false, example: String = "1") -> Int? {
        typed(key, required: required, expected: "an integer", example: example) {
            if case .integer(let number) = $0 { number } else { nil }
        }
    }

    mutating func bool(_ key: String, example: String = "true") -> Bool? {
        typed(key, required: false, expected: "true or false", example: example) {
            if case .bool(let flag) = $0 { flag } else { nil }
        }
    }

    /// Any value, for fields that accept more than one type.
    mutating func raw(_ key: String) -> ConfigValue? { value(key, required: false, example: "") }

    /// A list of strings; a single string is taken as a list of one.
    mutating func strings(_ key: String, example: String) -> [String]? {
        guard let value = value(key, required: false, example: example) else { return nil }
        switch value {
        case .string(let text): return [text]
        case .array(let items):
            var result: [String] = []
            for (index, item) in items.enumerated() {
                guard case .string(let text) = item else {
                    sink.error(
                        "\(name(key))[\(index)]", item.written, "must be a string, not \(item.typeName)",
                        fix: "e.g. \(key) = \(example)")
                    continue
                }
                result.append(text)
            }
            return result
        default:
            wrongType(key, value, expected: "a list of strings", example: example)
            return nil
        }
    }

    /// A list of integers; a single integer is taken as a list of one.
    /// The list's integers in the places they were written; an item that is not an integer is
    /// reported and is nil, so later checks can still name items by their index.
    mutating func integers(_ key: String, example: String) -> [Int?]? {
        guard let value = value(key, required: false, example: example) else { return nil }
        switch value {
        case .integer(let number): return [number]
        case .array(let items):
            return items.enumerated().map { index, item in
                guard case .integer(let number) = item else {
                    sink.error(
                        "\(name(key))[\(index)]", item.written, "must be an integer, not \(item.typeName)",
                        fix: "e.g. \(key) = \(example)")
                    return nil
                }
                return number
            }
        default:
            wrongType(key, value, expected: "a list of integers", example: example)
            return nil
        }
    }

    mutating func table(_ key: String, required: Bool = false, example: String) -> TableReader? {
        guard let value = value(key, required: required, example: example) else { return nil }
        guard case .table(let inner) = value else {
            sink.error(
                name(key), value.written, "must be a table", fix: "write it as [\(name(key))] followed by its fields")
            return nil
        }
        return TableReader(inner, prefix: name(key), sink: sink)
    }

    /// Marks keys that are read elsewhere or deliberately ignored.
    mutating func accept(_ keys: String...) { known += keys }

    /// Reports every key nobody asked for: a typo must not be silently ignored.
    func rejectUnknownKeys() {
        guard table.keys.contains(where: { !self.known.contains($0) }) else { return }
        let known = Set(self.known)
        for key in table.keys.sorted() where !known.contains(key) {
            let suggestion = closestField(to: key, among: known)
            let fix: String
            if let suggestion, editDistance(suggestion, key) <= 2 {
                fix = "did you mean \(name(suggestion))?"
            } else {
                fix = "remove it; known fields here: \(known.sorted().joined(separator: ", "))"
            }
            sink.error(name(key), table[key]?.written, "is not a known field", fix: fix)
        }
    }
}

/// The known field most like `key`: the fewest edits, then the most letters in common in
/// order (`tme` is two edits from both `type` and `times`, but all three of its letters are in
/// `times`), then the first by name, so the answer never depends on a Set's order.
func closestField(to key: String, among known: Set<String>) -> String? {
    let rank = { (field: String) in (editDistance(field, key), -commonSubsequenceLength(field, key), field) }
    return known.min { rank($0) < rank($1) }
}

/// Length of the longest common subsequence: letters of both, in the same order.
func commonSubsequenceLength(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    var previous = Array(repeating: 0, count: b.count + 1)
    for i in 0..<a.count {
        var current = [0]
        for j in 0..<b.count {
            current.append(a[i] == b[j] ? previous[j] + 1 : max(previous[j + 1], current[j]))
        }
        previous = current
    }
    return previous[b.count]
}

/// Levenshtein distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

import FoundationEssentials
import Glibc
import TOMLKit

/// A parsed configuration document, independent of its syntax: TOML files on disk and the
/// JSON or TOML given to `config import` are read into this tree and validated by one reader.
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case float(Double)
    case array([ConfigValue])
    case table([String: ConfigValue])
    /// TOML dates and times: never valid in our files, kept to report them.
    case other(String)
    /// JSON's null (TOML has none; rendering TOML leaves the key out).
    case null

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .bool: "a boolean"
        case .float: "a number with a fraction"
        case .array: "a list"
        case .table: "a table"
        case .other: "a date or time"
        case .null: "null"
        }
    }

    /// The value as it would be written, for error messages.
    var written: String {
        switch self {
        case .string(let text): "\"\(text.count > 80 ? String(text.prefix(80)) + "…" : text)\""
        case .integer(let number): String(number)
        case .bool(let flag): String(flag)
        case .float(let number): String(number)
        case .array(let items): "[" + items.map(\.written).joined(separator: ", ") + "]"
        case .table: "{…}"
        case .other(let text): text
        case .null: "null"
        }
    }
}

extension ConfigValue {
    /// Parses TOML text. A syntax error becomes a problem naming the line and column.
    public static func parseTOML(_ text: String, file: String) throws(ConfigProblem) -> [String: ConfigValue] {
        guard text.utf8.count <= TOMLGuard.maxBytes else { throw TOMLGuard.tooLarge(file: file) }
        // The plain TOML of registration files without toml++ (fast); anything else with it.
        if let table = PlainTOML.parse(text) { return table }
        return try parseTOMLFully(text, file: file)
    }

    /// Any TOML, through `TOMLGuard` and toml++ (TOMLKit).
    static func parseTOMLFully(_ text: String, file: String) throws(ConfigProblem) -> [String: ConfigValue] {
        try TOMLGuard.check(text, file: file)
        do {
            let table = try TOMLTable(string: text)
            return convert(table)
        } catch let error as TOMLParseError {
            throw ConfigProblem(
                file: file, field: nil,
                message:
                    """
                    not valid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \
                    \(error.description)
                    """,
                fix: "correct the syntax (strings need quotes, e.g. times = [\"02:00\"])")
        } catch {
            throw ConfigProblem(file: file, field: nil, message: "not valid TOML: \(error)")
        }
    }

    static func convert(_ table: TOMLTable) -> [String: ConfigValue] {
        var result: [String: ConfigValue] = [:]
        for key in table.keys {
            if let value = table[key] { result[key] = convert(value) }
        }
        return result
    }

    static func convert(_ value: any TOMLValueConvertible) -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .integer(value.int ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .double: return .float(value.double ?? 0)
        case .array: return .array((value.array.map { Array($0) } ?? []).map { convert($0) })
        case .table: return .table(value.table.map(convert) ?? [:])
        case .date, .time, .dateTime: return .other(value.debugDescription)
        }
    }

    /// Writes a table as TOML with TOMLKit. Keys come out sorted; sub-tables follow plain keys.
    public static func renderTOML(_ table: [String: ConfigValue]) -> String {
        toTOML(table).convert(to: .toml, options: [.allowLiteralStrings, .allowUnicodeStrings]) + "\n"
    }

    private static func toTOML(_ table: [String: ConfigValue]) -> TOMLTable {
        let result = TOMLTable()
        for (key, value) in table {
            if let converted = toTOMLValue(value) { result[key] = converted }
        }
        return result
    }

    private static func toTOMLValue(_ value: ConfigValue) -> (any TOMLValueConvertible)? {
        switch value {
        case .string(let text): return text
        case .integer(let number): return number
        case .bool(let flag): return flag
        case .float(let number): return number
        case .array(let items):
            let array = TOMLArray()
            for item in items { if let converted = toTOMLValue(item) { array.append(converted) } }
            return array
        case .table(let table): return toTOML(table)
        case .other, .null: return nil
        }
    }
}

extension ConfigValue: Codable {
    /// JSON as scripts read it: keys sorted, pretty, slashes unescaped.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("null".utf8), as: UTF8.self)
    }

    public static func parseJSON(_ text: String) throws -> ConfigValue {
        try JSONDecoder().decode(ConfigValue.self, from: Data(text.utf8))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text), .other(let text): try container.encode(text)
        case .integer(let number): try container.encode(number)
        case .bool(let flag): try container.encode(flag)
        case .float(let number): try container.encode(number)
        case .array(let items): try container.encode(items)
        case .table(let table): try container.encode(table)
        case .null: try container.encodeNil()
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Int.self) {
            self = .integer(number)
        } else if let number = try? container.decode(Double.self) {
            self = .float(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let items = try? container.decode([ConfigValue].self) {
            self = .array(items)
        } else {
            self = .table(try container.decode([String: ConfigValue].self))
        }
    }

    /// `.string` for a value that may be absent, `.null` for none.
    public static func optional(_ text: String?) -> ConfigValue { text.map { .string($0) } ?? .null }
    public static func optional(_ number: Int64?) -> ConfigValue { number.map { .integer(Int($0)) } ?? .null }

    public subscript(key: String) -> ConfigValue? {
        if case .table(let table) = self { table[key] } else { nil }
    }

    public var stringValue: String? { if case .string(let text) = self { text } else { nil } }
    public var intValue: Int? { if case .integer(let number) = self { number } else { nil } }
    public var boolValue: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    public var arrayValue: [ConfigValue]? { if case .array(let items) = self { items } else { nil } }
}

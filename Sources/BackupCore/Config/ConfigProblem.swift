/// One thing wrong (or worth a warning) in the configuration: where, which field, the value
/// as written, what is wrong and how to fix it.
public struct ConfigProblem: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Severity: String, Sendable { case error, warning }

    public let severity: Severity
    /// The file as the user knows it, e.g. `registrations.d/nightly.toml`.
    public let file: String
    /// Dotted field path, e.g. `schedule.times[1]`; nil for problems with the whole file.
    public let field: String?
    /// The offending value as written (never a secret).
    public let value: String?
    public let message: String
    public let fix: String?

    public init(
        _ severity: Severity = .error, file: String, field: String?, value: String? = nil, message: String,
        fix: String? = nil
    ) {
        self.severity = severity
        self.file = file
        self.field = field
        self.value = value
        self.message = message
        self.fix = fix
    }

    public var description: String {
        var text = "\(severity): \(file)"
        if let field { text += ": \(field)" }
        if let value { text += " = \(value)" }
        text += ": \(message)"
        if let fix { text += "; \(fix)" }
        return text
    }
}

/// Several problems at once; thrown where the caller cannot go on.
public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public let problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Collects problems while a file is read, so every problem is reported at once.
final class ProblemSink {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) { self.file = file }

    func error(_ field: String?, _ value: String? = nil, _ message: String, fix: String? = nil) {
        problems.append(ConfigProblem(.error, file: file, field: field, value: value, message: message, fix: fix))
    }

    func warning(_ field: String?, _ value: String? = nil, _ message: String, fix: String? = nil) {
        problems.append(ConfigProblem(.warning, file: file, field: field, value: value, message: message, fix: fix))
    }

    var hasErrors: Bool { problems.contains { $0.severity == .error } }
}

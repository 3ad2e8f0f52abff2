import Glibc
import SystemCalls

/// What the generator reported at its last run, kept in the runtime directory when it has no
/// /dev/kmsg to log to (containers have none): otherwise its messages are lost, and a
/// registration it skipped simply has no timer. `status` and `config check` show the file.
public enum GeneratorReport {
    public static func path(runtimeDirectory: String) -> String { "\(runtimeDirectory)/generator.log" }

    /// Writes the report (atomically), or removes a stale one when there is nothing to report.
    public static func save(_ lines: [String], runtimeDirectory: String, at time: Timestamp = .now()) {
        let file = path(runtimeDirectory: runtimeDirectory)
        guard !lines.isEmpty else {
            try? FileSystem.unlinkIfPresent(file)
            return
        }
        let text =
            "# dbbackup-generator at \(time.rfc3339) (no /dev/kmsg to log to)\n" + lines.map { $0 + "\n" }.joined()
        try? FileSystem.makeDirectories(runtimeDirectory)
        try? FileSystem.writeAtomically(Array(text.utf8), to: file, mode: 0o644)
    }

    /// The last report: when it was written and its lines; nil when there is none.
    public static func load(runtimeDirectory: String) -> (writtenAt: String, lines: [String])? {
        guard let bytes = try? FileSystem.readAll(path(runtimeDirectory: runtimeDirectory)) else { return nil }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let header = lines.first, header.hasPrefix("# dbbackup-generator at ") else { return nil }
        lines.removeFirst()
        let time = header.dropFirst("# dbbackup-generator at ".count).prefix { $0 != " " }
        return lines.isEmpty ? nil : (String(time), lines)
    }

    /// The report as `status` and `config check` print it.
    public static func summary(runtimeDirectory: String) -> [String]? {
        guard let (time, lines) = load(runtimeDirectory: runtimeDirectory) else { return nil }
        return [
            "the systemd generator reported at its last run (\(time), \(path(runtimeDirectory: runtimeDirectory))):"
        ]
            + lines.map { "  \($0)" }
            + ["  (after fixing the configuration, run: dbbackup apply)"]
    }
}

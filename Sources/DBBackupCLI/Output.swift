import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

/// An error of the command line's own: its message goes to stderr, its status ends the command.
struct CLIError: UserFacingError, CustomStringConvertible {
    let message: String
    let exitCode: Int32
    /// The same error by field, for `--json` (see ChangeReport); empty when it names no field.
    let problems: [ConfigProblem]

    init(_ message: String, exitCode: Int32 = 1, problems: [ConfigProblem] = []) {
        self.message = message
        self.exitCode = exitCode
        self.problems = problems
    }

    var description: String { message }
    var exitStatus: ExitStatus { ExitStatus(code: exitCode) ?? .failure }

    /// Exit status 78 (CONFIG): the configuration (or a value given for it) is wrong.
    static func configuration(_ problems: [ConfigProblem]) -> CLIError {
        CLIError(
            problems.map(\.description).joined(separator: "\n"), exitCode: RunFailure.Kind.configuration.exitCode,
            problems: problems)
    }

    /// Exit status 2 for a value given on the command line: the text form prints `text`, the
    /// JSON form attaches `message` to `field`.
    static func commandLine(
        _ text: String, field: String, value: String? = nil, message: String, fix: String? = nil
    ) -> CLIError {
        CLIError(
            text, exitCode: RunFailure.Kind.configuration.exitCode,
            problems: [ConfigProblem(file: "command line", field: field, value: value, message: message, fix: fix)])
    }
}

enum Output {
    /// Writes a line to stderr after what was printed to stdout so far: stdout is buffered when
    /// it is not a terminal, and a note must not jump ahead of the lines it follows.
    static func stderr(_ text: String) {
        fflush(nil)  // every output stream: stdout is the one that matters
        try? FileSystem.writeAll(STDERR_FILENO, Array((text + "\n").utf8), path: "standard error")
    }

    /// Prints JSON with stable key order, as scripts expect.
    static func json(_ value: ConfigValue) {
        print(value.json())
    }

    /// Left-aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padded(to: widths[index])
            }
            print(cells.joined(separator: "  "))
        }
    }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return unit == 0 ? "\(bytes) B" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}

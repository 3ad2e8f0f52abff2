import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

/// What a verb that changes the configuration (`registration add|edit|remove`, `retention set`)
/// says about the change: on a terminal, a line on stdout and warnings on stderr, as always;
/// with `--json`, one object on stdout whatever the outcome, so that a program (the Cockpit
/// page) attaches each problem to the field it names instead of parsing lines of text:
///
///     {"ok": true,  "message": "added registration …", "notes": ["created DIR …"], "warnings": [PROBLEM…], …}
///     {"ok": false, "exit_status": 2, "problems": [PROBLEM…]}
///     PROBLEM: {"severity": "error"|"warning", "file", "field", "value", "message", "fix"}
///
/// `field` is named as the command line spells it (`--time[0]`, `--bucket`, `NAME`,
/// `--secret-key-stdin`), or as the file names it for a warning about a stored setting, or
/// null. The messages are the same words the text form prints. Errors of the command line
/// itself (an unknown option: exit status 64) come from the argument parser before the verb
/// runs and stay text on stderr.
final class ChangeReport {
    let json: Bool
    private var warnings: [ConfigProblem] = []
    private var notes: [String] = []
    private var message = ""
    private var fields: [String: ConfigValue] = [:]

    init(json: Bool) { self.json = json }

    /// A warning about the change: printed at once, or kept for the JSON object.
    func warn(_ problem: ConfigProblem) {
        if json { warnings.append(problem) } else { Output.stderr(problem.description) }
    }

    /// Something done on the way (a directory created): a line on stdout, or kept for the
    /// JSON object, whose stdout holds nothing else.
    func note(_ line: String) {
        if json { notes.append(line) } else { print(line) }
    }

    /// What was done: the line a person reads, and what a program may want besides.
    func done(_ line: String, _ extra: [String: ConfigValue] = [:]) {
        if json {
            message = line
            fields.merge(extra) { $1 }
        } else {
            print(line)
        }
    }

    fileprivate func printSuccess() {
        guard json else { return }
        var object = fields
        object["ok"] = .bool(true)
        object["message"] = .string(message)
        object["notes"] = .array(notes.map { .string($0) })
        object["warnings"] = .array(warnings.map(\.jsonValue))
        Output.json(.table(object))
    }

    /// The failure as one JSON object; the exit status is the one the text form would have.
    fileprivate static func printFailure(_ problems: [ConfigProblem], exitStatus: Int32) {
        Output.json(
            .table([
                "ok": .bool(false),
                "exit_status": .integer(Int(exitStatus)),
                "problems": .array(problems.map(\.jsonValue)),
            ]))
    }
}

/// Runs a configuration-changing verb: for text, its errors go to the entry point as any
/// verb's; with `--json` every failure becomes the `{"ok": false, …}` object on stdout (and
/// nothing on stderr) with the same exit status.
func reportingChange(json: Bool, _ body: (ChangeReport) throws -> Void) throws {
    let report = ChangeReport(json: json)
    guard json else {
        try body(report)
        return
    }
    let problems: [ConfigProblem]
    let status: Int32
    do {
        try body(report)
        report.printSuccess()
        return
    } catch let error as CLIError {
        problems =
            error.problems.isEmpty
            ? [ConfigProblem(file: "command line", field: nil, message: error.message)] : error.problems
        status = error.exitCode
    } catch let error as ConfigErrors {
        problems = error.problems
        status = RunFailure.Kind.configuration.exitCode
    } catch let error as ConfigProblem {
        problems = [error]
        status = RunFailure.Kind.configuration.exitCode
    } catch let error as RunFailure {
        problems = [ConfigProblem(file: "command line", field: nil, message: error.description)]
        status = error.kind.exitCode
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        problems = [ConfigProblem(file: "command line", field: nil, message: "\(error)")]
        status = 1
    }
    ChangeReport.printFailure(problems, exitStatus: status)
    throw ExitCode(status)
}

extension ConfigProblem {
    /// One problem as the `--json` outputs give it (never a secret: a problem holds none).
    var jsonValue: ConfigValue {
        .table([
            "severity": .string(severity.rawValue),
            "file": .string(file),
            "field": .optional(field),
            "value": .optional(value),
            "message": .string(message),
            "fix": .optional(fix),
        ])
    }
}

import BackupCore
import Foundation
import Testing

/// The exit statuses are written down once, in `ExitStatus`; the README and `run --help`
/// must say the same.
@Suite("Exit statuses")
struct ExitStatusTests {
    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    @Test("the README's table of exit statuses is the one in the code")
    func readmeTable() {
        #expect(
            Self.readme.contains(ExitStatus.markdownTable),
            "README.md should hold, verbatim:\n\(ExitStatus.markdownTable)")
    }

    @Test("run --help lists every exit status of a run")
    func runHelp() throws {
        let help = try CLI()("run", "--help").stdout
        // argument-parser wraps long help lines: compare words, not lines.
        let words = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for status in ExitStatus.runStatuses {
            let line = "\(status.code) (\(status.systemdName)): \(status.meaning)"
            #expect(
                words.contains(line.split(whereSeparator: \.isWhitespace).joined(separator: " ")),
                "run --help lacks: \(line)")
        }
    }

    @Test("every status is a sysexits value systemd names, or 0 and 1")
    func sysexits() {
        for status in ExitStatus.allCases where status.code > 1 {
            #expect((64...78).contains(status.code), "\(status)")
        }
        #expect(
            Set(ExitStatus.allCases.map(\.severity)).count == ExitStatus.allCases.count, "severities are a strict order"
        )
    }
}

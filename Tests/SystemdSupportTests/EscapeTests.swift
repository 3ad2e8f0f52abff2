import SystemdSupport
import Testing

private let tool = "/usr/bin/systemd-escape"

extension ProcessStateTests {
    /// systemdEscape / systemdUnescape against the real systemd-escape on generated
    /// names (seeded: SYSTEMD_ESCAPE_SEED=N replays a run; the seed is in every failure).
    @Suite struct EscapeAgainstSystemdEscape {
        let seed = escapeTestSeed()

        @Test func escapeMatchesToolOnGeneratedNames() throws {
            let names = generatedNames(count: 400, seed: seed)
            // One run for all: escaped strings never contain spaces, so the tool's
            // space-joined output splits back exactly.
            let result = try run(tool, ["--"] + names)
            try #require(result.status == 0, "systemd-escape failed, seed \(seed)")
            let expected = result.stdout.dropLast().split(separator: " ", omittingEmptySubsequences: false).map(
                String.init)
            try #require(expected.count == names.count, "seed \(seed)")
            for (name, want) in zip(names, expected) {
                #expect(systemdEscape(name) == want, "name \(name.debugDescription), seed \(seed)")
            }
        }

        @Test func templateFormMatchesTool() throws {
            let names = generatedNames(count: 400, seed: seed &+ 1)
            for template in ["dbbackup@.timer", "dbbackup@.service", "dbbackup-failure@old.service", "a@.path"] {
                var mismatches: [String] = []
                // Valid and invalid (empty, over 255 bytes) instances alike: the tool
                // fails on the first invalid argument, so each name is its own run.
                for name in names.prefix(120) + [
                    "", String(repeating: "a", count: 240), String(repeating: "b", count: 260),
                ] {
                    let result = try run(tool, ["--template=\(template)", "--", name])
                    let ours = try? systemdEscape(name, template: template)
                    let theirs = result.status == 0 ? String(result.stdout.dropLast()) : nil
                    if ours != theirs {
                        mismatches.append(
                            "\(name.debugDescription): ours \(ours ?? "error"), tool \(theirs ?? "error")")
                    }
                }
                #expect(
                    mismatches.isEmpty,
                    "template \(template), seed \(seed), \(mismatches.count) mismatches: \(mismatches.prefix(5))")
            }
        }

        @Test func unescapeMatchesToolAndRoundTrips() throws {
            let names = generatedNames(count: 150, seed: seed &+ 2)
            for name in names {
                let escaped = systemdEscape(name)
                #expect(try systemdUnescape(escaped) == name, "round trip of \(name.debugDescription), seed \(seed)")
                let result = try run(tool, ["-u", "--", escaped])
                #expect(
                    result.status == 0 && String(result.stdout.dropLast()) == name,
                    "tool unescape of \(escaped), seed \(seed)")
            }
        }

        @Test(arguments: ["a\\x2Db", "A-B-", "\\xc3\\xBC", "a@b:c", "..-", "x\\x2f"])
        func unescapeHandWrittenMatchesTool(input: String) throws {
            let result = try run(tool, ["-u", "--", input])
            #expect(result.status == 0)
            #expect(try systemdUnescape(input) == String(result.stdout.dropLast()))
        }

        @Test(arguments: ["a\\", "a\\x", "a\\x4", "a\\xZZ", "a\\y41"])
        func unescapeRejectsWhatToolRejects(input: String) throws {
            let result = try run(tool, ["-u", "--", input])
            #expect(result.status != 0)
            #expect(throws: SystemdError.self) { try systemdUnescape(input) }
        }
    }
}

@Suite struct EscapeFixedCases {
    @Test func knownValues() {
        #expect(systemdEscape("") == "")
        #expect(systemdEscape("nightly-s3") == "nightly\\x2ds3")
        #expect(systemdEscape("/var/lib/x") == "-var-lib-x")
        #expect(systemdEscape(".hidden.db") == "\\x2ehidden.db")
        #expect(systemdEscape("a b\\c") == "a\\x20b\\x5cc")
        #expect(systemdEscape("ü") == "\\xc3\\xbc")
    }

    @Test func rejectsEscapedNulAndNonUTF8() {
        #expect(throws: SystemdError.self) { try systemdUnescape("a\\x00b") }
        #expect(throws: SystemdError.self) { try systemdUnescape("a\\xff") }
    }

    @Test func rejectsBadTemplates() {
        for template in ["dbbackup.timer", "@.timer", "dbbackup@.nope", "db backup@.timer", "dbbackup@"] {
            #expect(throws: SystemdError.self, "\(template)") { try systemdEscape("x", template: template) }
        }
    }

    @Test func unitNameValidity() {
        #expect(isValidUnitName("dbbackup@x.service"))
        #expect(isValidUnitName("dbbackup@.timer"))
        #expect(!isValidUnitName("dbbackup@.timer", allowTemplate: false))
        #expect(!isValidUnitName("dbbackup.target"))
        #expect(isValidUnitName("dbbackup.target", allowPlain: true))
        #expect(!isValidUnitName(String(repeating: "a", count: 250) + "@x.service"))
    }
}

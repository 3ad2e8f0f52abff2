import Foundation
import TestKit
import Testing

@testable import BackupCore

/// The generator's fast reader of plain registration files (`PlainTOML`) must never read a
/// document differently from toml++: it either gives toml++'s result or declines.
@Suite("Plain TOML read without toml++")
struct PlainTOMLTests {
    /// toml++'s reading (through TOMLGuard), or nil where it rejects the text.
    func full(_ text: String) -> [String: ConfigValue]? { try? ConfigValue.parseTOMLFully(text, file: "t.toml") }

    @Test("what the command line writes and the README shows is read without toml++, with toml++'s result")
    func acceptsWhatWeWrite() throws {
        let registrations = RegistrationFixtures.everyKind(configDirectory: "/etc/dbbackup")
        var texts = registrations.map {
            "# a header comment\n\n" + ConfigValue.renderTOML(ConfigCodec.renderRegistration($0))
        }
        texts += FuzzTests.valid
        texts.append(
            """
            # written by hand
            provider = "filesystem"   # local disk
            path = '/var/backups/myapp'
            heartbeat_url = ""

            [schedule]
            type = "weekly"                 # migration | daily | weekly | monthly
            times = ["02:00", "14:00"]      # 24-hour HH:MM
            weekdays = [
                "mon",   # start of the week
                "thu",
            ]
            """)
        texts.append("provider = \"filesystem\"\r\npath = \"/b\"\r\n\r\n[ schedule ]\r\n\ttype = \"migration\"\r\n")
        texts.append(
            """
            [retention]\nlocal = 7\nremote = \"unlimited\"\n\n[database]\npath = \
            \"/var/lib/app/app.db\"\nbusy_timeout = +30\npace_mib_per_second = 0\n
            """
        )
        texts.append("")
        for text in texts {
            let plain = try #require(PlainTOML.parse(text), "declined: \(text)")
            #expect(plain == full(text), "\(text)")
        }
    }

    @Test("anything beyond plain TOML is left to toml++, valid or not")
    func declinesTheRest() throws {
        let declined = [
            #"path = "a\"b""#, #"path = "C:\\x""#, "path = \"\"\"multi\nline\"\"\"", "path = '''x'''", "a.b = 1",
            "\"quoted\" = 1", "a = 1.5", "a = 1e3",
            "a = 0x1F", "a = 1_000", "a = 007", "a = inf", "a = 2026-11-26", "a = 02:00", "a = {b = 1}",
            "a = [[1], [2]]", "[a.b]\nc = 1",
            "[[a]]\nb = 1", "a = 1\na = 2", "a = 1\n[a]\n", "[t]\n[t]\n", "[t]\nx = 1\nx = 2", "a = 1 b = 2",
            "a = \"x\u{0}\"", "a = \"x\u{7F}\"",
            "a = 1 # \u{1}", "a = 1\rb = 2", "a = truex", "a = 12345678901234567890", "\u{FEFF}a = 1", "a = \"open",
            "a = [1, 2", "a = [1,,2]", "a =", "= 1",
            "a = \"x\n\"", "a = [\n1\r2]",
        ]
        for text in declined {
            #expect(PlainTOML.parse(text) == nil, "\(text)")
            // The caller's answer is still toml++'s.
            #expect((try? ConfigValue.parseTOML(text, file: "t.toml")) == full(text), "\(text)")
        }
    }

    @Test("20,000 generated registration files: whatever the plain reader accepts, toml++ reads the same")
    func sameAsTOMLPlusPlus() {
        let seed =
            UInt64(ProcessInfo.processInfo.environment["DBBACKUP_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        var plain = 0
        var declined = 0
        var differed = 0
        for index in 0..<20_000 {
            let text = FuzzTests.generate(&rng)
            guard let fast = PlainTOML.parse(text) else {
                declined += 1
                continue
            }
            plain += 1
            let slow = full(text)
            if fast != slow {
                differed += 1
                if differed <= 5 {
                    Issue.record(
                        """
                        seed \(seed) #\(index): plain \(fast), toml++ \(slow.map { "\($0)" } ?? "rejects it"): \
                        \(text.debugDescription)
                        """
                    )
                }
            }
        }
        // Enough of both kinds for the comparison to mean something.
        #expect(plain > 2_000 && declined > 2_000, "plain \(plain), declined \(declined)")
        print("plain TOML: \(plain) read without toml++, \(declined) left to it, \(differed) differed; seed \(seed)")
    }
}

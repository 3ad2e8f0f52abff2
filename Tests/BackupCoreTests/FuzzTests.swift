import BackupCore
import Foundation
import TestKit
import Testing

/// Thousands of generated registration files, random and mutated from valid ones, through the
/// same reader `config check` and the generator use: nothing crashes or hangs, every rejection
/// names its field, and what is accepted becomes units systemd accepts.
@Suite("Fuzzed configuration", .serialized)
struct FuzzTests {
    static let valid = [
        """
        provider = \"filesystem\"\npath = \"/srv/backups/app\"\n\n[schedule]\ntype = \"daily\"\ntimes = \
        [\"02:00\", \"14:30\"]\ntimezone = \"Europe/Prague\"\n
        """,
        """
        provider = \"filesystem\"\npath = \"relative/dir\"\n\n[schedule]\ntype = \"weekly\"\ntimes = \
        [\"03:15\"]\nweekdays = [\"mon\", \"thu\"]\n
        """,
        """
        provider = \"s3\"\nbucket = \"app-backups\"\nendpoint = \"http://127.0.0.1:9000\"\nforce_path_style = \
        true\nprefix = \"app/\"\naccess_key = \"AK\"\n\n[schedule]\ntype = \"monthly\"\ntimes = [\"23:59\"]\ndays \
        = [1, 15]\n
        """,
        "provider = \"filesystem\"\npath = \"/b\"\n\n[schedule]\ntype = \"migration\"\n",
    ]

    /// Pieces that have broken config readers and unit files before.
    static let nasty = [
        "%", "%%", "%n", "\"", "'", "\\", "\\n", "\n", "\r", "\t", " ", "=", "[", "]",
        "[Service]\nExecStart=/bin/sh -c 'rm -rf /'\n",
        "\nExecStart=/bin/evil", "ü", "日本", "🙂", "\u{202E}", "\u{0}", "#", ",", "{", "}", "..", "/", "-", "25:00", "32",
        "-1",
        "funday", "s3", "filesystem", "migration", "true", "1e9", String(repeating: "x", count: 3000),
    ]

    static let names = [
        "job", "a-b", "nightly_1", "a b", "a/b", "a\nb", "", ".hidden", "ü", "%n", String(repeating: "n", count: 70),
        "ok-2",
    ]

    /// One generated file: a mutation of a valid one (mostly), or noise.
    static func generate(_ rng: inout SplitMix64) -> String {
        if Int.random(in: 0..<10, using: &rng) == 0 {
            return (0..<Int.random(in: 0...8, using: &rng)).map { _ in nasty.randomElement(using: &rng)! }.joined()
        }
        var text = valid.randomElement(using: &rng)!
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let index = Int.random(in: 0..<lines.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0:  // insert a piece inside a line (often inside a string value)
                var line = Array(lines[index])
                line.insert(
                    contentsOf: nasty.randomElement(using: &rng)!, at: Int.random(in: 0...line.count, using: &rng))
                lines[index] = String(line)
            case 1: lines.remove(at: index)
            case 2: lines.insert(lines[index], at: index)
            case 3:  // replace a value
                if let equals = lines[index].firstIndex(of: "=") {
                    lines[index] = String(lines[index][...equals]) + " \"" + nasty.randomElement(using: &rng)! + "\""
                }
            case 4: lines.insert(nasty.randomElement(using: &rng)!, at: index)
            default:
                let keys = [
                    "provider", "path", "bucket", "endpoint", "region", "prefix", "access_key", "secret_key", "name",
                    "type", "times", "days", "weekdays", "timezone",
                ]
                lines.insert(
                    "\(keys.randomElement(using: &rng)!) = \"\(nasty.randomElement(using: &rng)!)\"", at: index)
            }
            text = lines.joined(separator: "\n")
        }
        return text
    }

    @Test("10,000 generated registration files: no crash, every rejection names its field, accepted ones verify")
    func fuzz() throws {
        let seed =
            UInt64(ProcessInfo.processInfo.environment["DBBACKUP_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 1)
        _ = try sandbox.writeMain()
        var accepted = 0
        var rejected = 0
        var keep: [(String, String)] = []
        let started = Date()
        for index in 0..<10_000 {
            let text = Self.generate(&rng)
            let name = Self.names.randomElement(using: &rng)!
            let file = "registrations.d/fuzz.toml"
            let result: (Registration?, [ConfigProblem])
            do {
                let table = try ConfigValue.parseTOML(text, file: file)
                result = ConfigCodec.readRegistration(
                    table, name: name, file: file, configDirectory: sandbox.locations.configDirectory)
            } catch {
                #expect(error.message.contains("not valid TOML"), "seed \(seed) #\(index): \(error)")
                rejected += 1
                continue
            }
            let errors = result.1.filter { $0.severity == .error }
            if let registration = result.0 {
                #expect(errors.isEmpty, "seed \(seed) #\(index): accepted with errors \(errors)")
                accepted += 1
                // Names must already be unit-safe; keep a sample of distinct accepted files to verify.
                #expect(RegistrationName.isValid(registration.name))
                if keep.count < 150 && !keep.contains(where: { $0.0 == "\(registration.name)-\(keep.count)" }) {
                    keep.append(("fuzz\(keep.count)", text))
                }
            } else {
                rejected += 1
                #expect(!errors.isEmpty, "seed \(seed) #\(index): rejected without a reason")
                for problem in errors {
                    #expect(problem.field != nil, "seed \(seed) #\(index): a rejection without a field: \(problem)")
                }
                // Secrets and injected unit lines never leak into messages as values of a secret.
                #expect(!errors.contains { $0.field == "secret_key" && $0.value != nil })
            }
        }
        #expect(Date().timeIntervalSince(started) < 120, "10,000 files took too long: a hang?")
        // Mutations mostly break files; enough of both kinds must occur for the test to mean something.
        #expect(accepted > 100 && rejected > 1000, "accepted \(accepted), rejected \(rejected)")

        // The accepted sample, as files of one configuration, through the generator and systemd-analyze.
        for (name, text) in keep { try sandbox.write(text, to: "etc/registrations.d/\(name).toml") }
        let loaded = sandbox.store.load()
        #expect(loaded.registrations.count == keep.count, "seed \(seed): \(loaded.errors.prefix(3))")
        let output = "\(sandbox.root)/generated"
        try UnitGenerator(locations: sandbox.locations, config: loaded).write(to: output)
        let verify = try runProcess(
            "/bin/bash", ["\(GeneratorTests.repository)/scripts/systemd-container/verify-units.sh", output])
        let failures = verify.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") || $0.hasPrefix("     ") }
        #expect(verify.status == 0, "seed \(seed): \(failures.prefix(10))")
        print(
            """
            fuzz: \(accepted) accepted, \(rejected) rejected of 10,000; \(keep.count) accepted files verified by \
            systemd-analyze; seed \(seed) (replay with DBBACKUP_FUZZ_SEED=\(seed))
            """
        )
    }
}

import BackupCore
import Foundation
import Testing

/// `registration add/edit` with compression and encryption, as a sysadmin types them.
@Suite struct EncodingOptionsTests {
    static let alice = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
    static let bob = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    static let secret = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

    @Test("add, show, --json, export and edit carry compression and recipients; none and --no-encryption turn them off")
    func flow() throws {
        let cli = try CLI.initialized()
        try "# ops\n\(Self.bob)\n".write(toFile: "\(cli.root)/ops.recipients", atomically: true, encoding: .utf8)
        try cli.addRegistration(
            "nightly", "--compression", "zstd", "--compression-level", "7", "--recipient", Self.alice,
            "--recipients-file", "ops.recipients")
        let show = try cli("registration", "show", "nightly")
        for line in [
            "compression: zstd, level 7", "encryption: age, to 2 recipient(s)", "  recipient: \(Self.alice)",
            "  recipients_file: \(cli.root)/ops.recipients", "    recipient: \(Self.bob)",
            "file names end: .db.zst.age",
        ] {
            #expect(show.stdout.contains(line + "\n"), "\(line) in:\n\(show.stdout)")
        }
        let json = try #require(try cli.json("registration", "show", "nightly", "--json") as? [String: Any])
        #expect(json["compression"] as? String == "zstd" && json["compression_level"] as? Int == 7)
        let encryption = try #require(json["encryption"] as? [String: Any])
        #expect(encryption["recipients"] as? [String] == [Self.alice])
        #expect(encryption["recipients_file"] as? String == "\(cli.root)/ops.recipients")
        let export = try cli("config", "export")
        #expect(export.stdout.contains("compression_level = 7") && export.stdout.contains(Self.alice))

        // The export imports back to the same settings.
        try export.stdout.write(toFile: "\(cli.root)/export.toml", atomically: true, encoding: .utf8)
        try cli("registration", "remove", "nightly")
        #expect(try cli("config", "import", "export.toml").status == 0)
        #expect(try cli("registration", "show", "nightly").stdout == show.stdout)

        let edit = try cli("registration", "edit", "nightly", "--compression", "none", "--no-encryption")
        #expect(edit.status == 0, "\(edit.stderr)")
        let file = try #require(cli.file("\(cli.configDirectory)/registrations.d/nightly.toml"))
        #expect(!file.contains("compression") && !file.contains("encryption"), "\(file)")
        #expect(try cli("registration", "show", "nightly").stdout.contains("file names end: .db\n"))

        let again = try cli("registration", "edit", "nightly", "--recipient", Self.bob, "--recipient", Self.alice)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try cli("registration", "show", "nightly").stdout.contains("encryption: age, to 2 recipient(s)"))
    }

    @Test(
        """
        bad compression and recipients are refused naming the option and the expected form; a secret key is never \
        echoed
        """
    )
    func badInput() throws {
        let cli = try CLI.initialized()
        let add = ["registration", "add", "x", "--provider", "filesystem", "--path", "b", "--schedule", "migration"]
        let cases: [([String], String)] = [
            (["--compression", "lz4"], "--compression = \"lz4\": must be \"zstd\" or \"none\""),
            (
                ["--compression", "zstd", "--compression-level", "20"],
                "--compression-level = 20: must be between 1 and 19"
            ),
            (
                ["--compression", "zstd", "--compression-level", "fast"],
                "--compression-level = \"fast\": must be an integer"
            ),
            (["--compression-level", "5"], "--compression-level = 5: applies only to zstd compression"),
            (["--recipient", Self.secret], "--recipient[0]: is an age secret key, not a public key"),
            (
                [
                    "--recipient", Self.alice, "--recipient",
                    "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujw",
                ], "--recipient[1] = \"age1zvk"
            ),
            (
                ["--recipient", "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujw"],
                "age1 followed by 58 Bech32 characters"
            ),
            (
                ["--recipients-file", "missing.recipients"],
                "--recipients-file = \"\(cli.root)/missing.recipients\": cannot be read"
            ),
        ]
        for (options, expected) in cases {
            let result = try cli.run(add + options)
            #expect(result.status == ExitStatus.configuration.code, "\(options)")
            #expect(result.stderr.contains(expected), "\(options): \(result.stderr)")
        }
        let both = try cli.run(add + ["--no-encryption", "--recipient", Self.alice])
        #expect(both.status != 0 && both.stderr.contains("--no-encryption"), "\(both.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(cli.configDirectory)/registrations.d/x.toml"))
        #expect(!cli.transcript.contains("GFPYYSJZ"), "a secret key must never be echoed")
    }
}

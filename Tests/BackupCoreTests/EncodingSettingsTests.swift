import Age
import BackupCore
import Foundation
import Testing

@Suite("Compression and encryption settings")
struct EncodingSettingsTests {
    static let alice = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
    static let bob = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    static let secret = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    static let base = "provider = \"filesystem\"\npath = \"/var/backups/app\"\n"
    static let schedule = "\n[schedule]\ntype = \"migration\"\n"

    func read(_ toml: String, configDirectory: String = "/etc/dbbackup") throws -> (Registration?, [ConfigProblem]) {
        let table = try ConfigValue.parseTOML(toml, file: "registrations.d/job.toml")
        return ConfigCodec.readRegistration(
            table, name: "job", file: "registrations.d/job.toml", configDirectory: configDirectory)
    }

    @Test("off by default: nothing in the file, plain .db names, and a plain registration writes no new keys")
    func defaults() throws {
        let (registration, problems) = try read(Self.base + Self.schedule)
        #expect(problems.isEmpty)
        #expect(registration?.encoding == EncodingSettings.none)
        #expect(registration?.encoding.fileSuffix == ".db")
        let rendered = ConfigCodec.renderRegistration(try #require(registration))
        #expect(rendered["compression"] == nil && rendered["compression_level"] == nil && rendered["encryption"] == nil)
    }

    @Test("compression = \"zstd\" alone is level 3; a single recipient string is a list of one; both give .db.zst.age")
    func handWritten() throws {
        let (registration, problems) = try read(
            Self.base + "compression = \"zstd\"\n" + Self.schedule + "\n[encryption]\nrecipients = \"\(Self.alice)\"\n")
        #expect(problems.isEmpty, "\(problems)")
        let encoding = try #require(registration?.encoding)
        #expect(encoding.compression == .zstd(level: 3))
        #expect(encoding.storedForm.recipients.map(\.description) == [Self.alice])
        #expect(encoding.fileSuffix == ".db.zst.age")
        #expect(encoding.summary == "zstd level 3, age to 1 recipient")
    }

    @Test(
        """
        a recipients file is read at load time, relative to the configuration directory, its keys joining the \
        list once
        """
    )
    func recipientsFile() throws {
        let sandbox = try Sandbox()
        try FileManager.default.createDirectory(
            atPath: sandbox.locations.configDirectory, withIntermediateDirectories: true)
        let file = "\(sandbox.locations.configDirectory)/ops.recipients"
        try "# ops team, rotated yearly\n\(Self.bob)\n\n\(Self.alice)\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let registration = Registration(
            name: "job",
            provider: .filesystem(
                FilesystemTarget(path: "/var/backups/app", configDirectory: sandbox.locations.configDirectory)),
            schedule: .migration,
            encoding: EncodingSettings(
                compression: .zstd(level: 9),
                encryption: .init(
                    recipients: [try AgeRecipient(Self.alice)], recipientsFile: "ops.recipients",
                    resolvedRecipientsFile: file,
                    fileRecipients: [try AgeRecipient(Self.bob), try AgeRecipient(Self.alice)])))
        try sandbox.store.save(registration)
        let text = try String(contentsOfFile: sandbox.locations.registrationFile("job"), encoding: .utf8)
        #expect(
            text.contains("compression = 'zstd'") && text.contains("compression_level = 9")
                && text.contains("recipients_file = 'ops.recipients'"))
        #expect(!text.contains(Self.bob), "the file's keys stay in the file")
        let loaded = try sandbox.store.registration(named: "job")
        #expect(loaded == registration)
        #expect(loaded.encoding.storedForm.recipients.map(\.description) == [Self.alice, Self.bob])

        // The file is read again at the next load: a key added there is used at once.
        try "\(Self.bob)\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(
            try sandbox.store.registration(named: "job").encoding.storedForm.recipients.map(\.description) == [
                Self.alice, Self.bob,
            ])
        chmod(file, 0o666)
        let warnings = sandbox.store.load().problems.filter { $0.field == "encryption.recipients_file" }
        #expect(
            warnings.count == 1 && warnings[0].severity == .warning && warnings[0].fix == "chmod go-w \(file)",
            "\(warnings)")
    }

    @Test("every bad setting is reported at once, with its field and the expected form; a secret key is never repeated")
    func errors() throws {
        let (registration, problems) = try read(
            Self.base + """
                compression = "gzip"
                compression_level = 25
                """ + Self.schedule + """

                    [encryption]
                    recipients = ["\(Self.secret)", "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk", \
                    42]
                    recipient_file = "x"
                    """)
        #expect(registration == nil)
        let text = problems.map(\.description).joined(separator: "\n")
        for expected in [
            "compression = \"gzip\": must be \"zstd\" or \"none\"", "compression_level = 25: must be between 1 and 19",
            "encryption.recipients[0]: is an age secret key", "encryption.recipients[1] = \"age1zvk",
            "wrong checksum", "age1 followed by 58 Bech32 characters",
            "encryption.recipients[2] = 42: must be a string",
            "encryption.recipient_file = \"x\": is not a known field; did you mean encryption.recipients_file?",
        ] {
            #expect(text.contains(expected), "\(expected) in:\n\(text)")
        }
        #expect(!text.contains("GFPYYSJZ"), "a secret key must never be repeated:\n\(text)")
    }

    @Test("a level without zstd, an encryption table without keys, a missing or bad recipients file")
    func moreErrors() throws {
        let level = try read(Self.base + "compression_level = 5\n" + Self.schedule).1
        #expect(
            level.map(\.description).contains { $0.contains("compression_level = 5: applies only to zstd compression") }
        )
        let empty = try read(Self.base + Self.schedule + "\n[encryption]\n").1
        #expect(empty.map(\.description).contains { $0.contains("encryption: has no recipients") })
        let notTable = try read(Self.base + "encryption = \"age\"\n" + Self.schedule).1
        #expect(notTable.map(\.description).contains { $0.contains("encryption = \"age\": must be a table") })
        let missing = try read(
            Self.base + Self.schedule + "\n[encryption]\nrecipients_file = \"nowhere.recipients\"\n",
            configDirectory: "/nonexistent"
        ).1
        #expect(
            missing.map(\.description).contains {
                $0.contains(
                    "encryption.recipients_file = \"/nonexistent/nowhere.recipients\": cannot be read: No such file")
            },
            "\(missing)")

        let sandbox = try Sandbox()
        let file = "\(sandbox.root)/bad.recipients"
        try "\(Self.alice)\n# a comment\n\(Self.secret)\nssh-ed25519 AAAA\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let bad = try read(Self.base + Self.schedule + "\n[encryption]\nrecipients_file = \"\(file)\"\n").1.map(
            \.description
        ).joined(separator: "\n")
        #expect(bad.contains("line 3: is an age secret key") && bad.contains("line 4: is an SSH public key"), "\(bad)")
        #expect(!bad.contains("GFPYYSJZ"))
    }
}

import BackupCore
import Foundation
import Testing

/// `--json` of the verbs that change the configuration: one object on stdout whatever the
/// outcome, each problem attached to the field the command line names (the Cockpit page shows
/// these messages beside its fields).
@Suite struct ChangeJSONTests {
    /// The object printed on stdout; the test fails if stdout is not exactly one JSON object.
    func outcome(_ result: CLI.Result) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try #require(object, "stdout is not a JSON object: \(result.stdout)")
    }

    func problems(_ object: [String: Any], _ key: String = "problems") -> [[String: Any]] {
        object[key] as? [[String: Any]] ?? []
    }

    /// A problem as the text form prints it: `severity: file: field = value: message; fix`.
    func line(_ problem: [String: Any]) -> String {
        var text = "\(problem["severity"] as? String ?? "?"): \(problem["file"] as? String ?? "?")"
        if let field = problem["field"] as? String { text += ": \(field)" }
        if let value = problem["value"] as? String { text += " = \(value)" }
        text += ": \(problem["message"] as? String ?? "?")"
        if let fix = problem["fix"] as? String { text += "; \(fix)" }
        return text
    }

    @Test(
        """
        registration add --json: every problem is one object naming its option, with the text form's words; \
        nothing is written
        """
    )
    func addProblemsByField() throws {
        let cli = try CLI.initialized()
        let arguments = [
            "registration", "add", "x", "--provider", "filesystem", "--path", "b", "--schedule", "weekly",
            "--time", "02:00", "--time", "25:00", "--weekday", "funday", "--timezone", "Nowhere/X",
        ]
        let text = try cli.run(arguments)
        let json = try cli.run(arguments + ["--json"])
        #expect(json.status == text.status)
        #expect(json.status == ExitStatus.configuration.code)
        #expect(json.stderr.isEmpty, "\(json.stderr)")
        let object = try outcome(json)
        #expect(object["ok"] as? Bool == false)
        #expect(object["exit_status"] as? Int == Int(ExitStatus.configuration.code))
        let byField = Dictionary(problems(object).map { ($0["field"] as? String ?? "", $0) }) { first, _ in first }
        #expect(Set(byField.keys) == ["--time[1]", "--weekday[0]", "--timezone"], "\(object)")
        let time = try #require(byField["--time[1]"])
        #expect(time["severity"] as? String == "error")
        #expect(time["file"] as? String == "command line")
        #expect(time["value"] as? String == "\"25:00\"")
        #expect(time["message"] as? String == "hour 25 is out of range 00-23")
        #expect((time["fix"] as? String)?.hasPrefix("write times as 24-hour HH:MM") == true)
        // The same words as the text form, line by line.
        for problem in problems(object) {
            #expect(text.stderr.contains(line(problem)), "\(line(problem)) in \(text.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(cli.configDirectory)/registrations.d/x.toml"))

        // A name already taken, and the s3 fields, also name their fields.
        try cli.addRegistration("taken")
        let taken = try outcome(
            try cli(
                "registration", "add", "taken", "--provider", "filesystem", "--path", "c", "--schedule", "migration",
                "--json"))
        #expect(problems(taken).map { $0["field"] as? String } == ["NAME"], "\(taken)")
        let bucket = try outcome(
            try cli(
                "registration", "add", "cloud", "--provider", "s3", "--bucket", "b!", "--access-key", "A",
                "--secret-key-stdin", "--schedule", "migration", "--json", input: "secret-value-1\n"))
        #expect(problems(bucket).map { $0["field"] as? String } == ["--bucket"], "\(bucket)")
        let unknown = try outcome(try cli("registration", "remove", "nothing-here", "--json"))
        #expect(problems(unknown).map { $0["field"] as? String } == ["NAME"], "\(unknown)")
        let edit = try outcome(try cli("registration", "edit", "nothing-here", "--time", "02:00", "--json"))
        #expect(edit["ok"] as? Bool == false)
        #expect(!problems(edit).isEmpty)
    }

    @Test(
        """
        registration add/edit --json: the masked registration and warnings on success; secret problems name the \
        secret option; the secret is never printed
        """
    )
    func secretOutcomes() throws {
        let cli = try CLI.initialized()
        let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
        let add = try cli(
            "registration", "add", "cloud", "--provider", "s3", "--bucket", "app-backups", "--endpoint",
            "http://backup.example:9000",
            "--force-path-style", "--access-key", "AGENT", "--secret-key-stdin", "--schedule", "daily", "--time",
            "02:00", "--json",
            input: secret + "\n")
        #expect(add.status == 0, "\(add.stdout)\(add.stderr)")
        let added = try outcome(add)
        #expect(added["ok"] as? Bool == true)
        #expect((added["message"] as? String)?.hasPrefix("added registration cloud: daily at 02:00") == true)
        let registration = try #require(added["registration"] as? [String: Any])
        #expect(registration["secret_key"] as? String == "wJal****")
        #expect(registration["bucket"] as? String == "app-backups")
        #expect(problems(added, "warnings").map { $0["field"] as? String } == ["--endpoint"], "\(added)")
        #expect(problems(added, "warnings").first?["severity"] as? String == "warning")
        let secretFile = "\(cli.configDirectory)/secrets/cloud.secret"
        #expect(cli.file(secretFile) == secret)

        // The mask keeps the stored secret; a wrong mask or an empty value is refused at the secret option.
        let masked = try outcome(
            try cli(
                "registration", "edit", "cloud", "--region", "eu-west-1", "--secret-key-stdin", "--json",
                input: "wJal****\n"))
        #expect(masked["ok"] as? Bool == true, "\(masked)")
        #expect(cli.file(secretFile) == secret)
        let wrongMask = try cli("registration", "edit", "cloud", "--secret-key-stdin", "--json", input: "zzzz****\n")
        #expect(wrongMask.status == ExitStatus.configuration.code)
        #expect(problems(try outcome(wrongMask)).map { $0["field"] as? String } == ["--secret-key-stdin"])
        let empty = try cli("registration", "edit", "cloud", "--secret-key-stdin", "--json", input: "\n")
        #expect(empty.status == ExitStatus.configuration.code)
        let emptyProblem = try #require(problems(try outcome(empty)).first)
        #expect(emptyProblem["field"] as? String == "--secret-key-stdin")
        #expect(emptyProblem["message"] as? String == "the secret key is empty")
        #expect(cli.file(secretFile) == secret)
        // The text form says the same as before.
        #expect(
            try cli("registration", "edit", "cloud", "--secret-key-stdin", input: "\n").stderr.hasSuffix(
                "\ndbbackup: --secret-key-stdin: the secret key is empty\n"))

        let replaced = try outcome(
            try cli("registration", "edit", "cloud", "--secret-key-stdin", "--json", input: "new-secret-2222\n"))
        #expect((replaced["registration"] as? [String: Any])?["secret_key"] as? String == "new-****")
        #expect(cli.file(secretFile) == "new-secret-2222")
        #expect(!cli.transcript.contains(secret))
        #expect(!cli.transcript.contains("new-secret-2222"))
    }

    @Test(
        """
        retention set --json names --local and --remote; config check --json gives the warning about a limit of 0 \
        by field
        """
    )
    func retention() throws {
        let cli = try CLI.initialized()
        let bad = try cli("retention", "set", "--local", "16", "--remote", "-1", "--json")
        #expect(bad.status == ExitStatus.configuration.code)
        #expect(problems(try outcome(bad)).map { $0["field"] as? String } == ["--local", "--remote"])
        #expect(try cli.json("retention", "show", "--json") as? [String: Int] == ["local": 7, "remote": 14])

        let zero = try outcome(try cli("retention", "set", "--local", "0", "--remote", "unlimited", "--json"))
        #expect(zero["ok"] as? Bool == true)
        #expect(zero["local"] as? Int == 0)
        #expect(zero["remote"] as? String == "unlimited")
        #expect(
            Set(problems(zero, "warnings").map { $0["field"] as? String ?? "" }) == ["--local", "--remote"], "\(zero)")

        let check = try cli("config", "check", "--json")
        #expect(check.status == 0, "\(check.stderr)")
        let checked = try outcome(check)
        #expect(checked["ok"] as? Bool == true)
        let warnings = problems(checked).filter { ($0["field"] as? String)?.hasPrefix("retention.") == true }
        #expect(
            Set(warnings.map { $0["field"] as? String ?? "" }) == ["retention.local", "retention.remote"], "\(checked)")
        #expect(problems(checked).allSatisfy { $0["severity"] as? String == "warning" })
        #expect(
            warnings.first { $0["field"] as? String == "retention.local" }?["message"] as? String
                == "local backups are never cleaned up automatically")
        // The same words as the text form.
        let text = try cli("config", "check")
        for problem in warnings { #expect(text.stdout.contains(line(problem)), "\(line(problem))") }

        // A broken registration file: an error by file and field, exit status 2 as in text.
        try "provider = \"filesystem\"\npath = \"x\"\n[schedule]\ntype = \"daily\"\ntimes = [\"24:61\"]\n"
            .write(toFile: "\(cli.configDirectory)/registrations.d/broken.toml", atomically: true, encoding: .utf8)
        let broken = try cli("config", "check", "--json")
        #expect(broken.status == ExitStatus.configuration.code)
        let errors = problems(try outcome(broken)).filter { $0["severity"] as? String == "error" }
        #expect(
            errors.map { "\($0["file"] as? String ?? ""): \($0["field"] as? String ?? "")" } == [
                "registrations.d/broken.toml: schedule.times[0]"
            ], "\(errors)")
    }
}

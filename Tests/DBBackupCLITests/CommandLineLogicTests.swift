import Testing

@testable import DBBackupCLI

/// The command line's own logic, reached without running the binary.
@Suite("Command-line logic")
struct CommandLineLogicTests {
    @Test(
        "durations are read as deploy scripts write them",
        arguments: [
            ("90", 90.0), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2h", 7200), ("1.5m", 90),
            ("10sec", 10), ("3min", 180),
        ])
    func durations(_ text: String, _ seconds: Double) {
        #expect(DurationParser.seconds(text) == seconds, "\(text)")
    }

    @Test("what is not a duration is refused", arguments: ["", "m", "5x", "-3", "5m3", "1h 30m", "abc"])
    func notDurations(_ text: String) {
        #expect(DurationParser.seconds(text) == nil, "\(text)")
    }

    @Test("--config-dir and --state-dir move behind the verb, wherever they were given")
    func globalOptionsMove() {
        let place = { (arguments: [String]) in GlobalOptions.placedAfterVerb(arguments, root: DBBackup.self) }
        #expect(place(["--config-dir", "/c", "list", "--json"]) == ["list", "--config-dir", "/c", "--json"])
        #expect(place(["registration", "--state-dir=/s", "list"]) == ["registration", "list", "--state-dir=/s"])
        #expect(
            place(["--config-dir", "/c", "--state-dir", "/s", "registration", "show", "x"])
                == ["registration", "show", "--config-dir", "/c", "--state-dir", "/s", "x"])
        // Already after the verb: left as it is.
        #expect(place(["list", "--config-dir", "/c"]) == ["list", "--config-dir", "/c"])
        // A group of verbs (or none) takes no options: they are dropped and the usage shows.
        #expect(place(["--config-dir", "/c", "registration"]) == ["registration"])
        #expect(place(["--config-dir", "/c"]) == [])
    }
}

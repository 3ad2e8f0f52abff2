import BackupCore
import Foundation
import TestKit
import Testing

@Suite("Schedule warnings on the command line", .serialized)
struct ScheduleWarningTests {
    @Test(
        """
        registration add and config check warn about a time the clocks skip or repeat, on the dates systemd \
        really skips
        """
    )
    func daylightSaving() throws {
        let cli = try CLI.initialized()
        let added = try cli.addRegistration(
            "nightly", schedule: "daily", "--time", "02:30", "--timezone", "Europe/Prague")
        #expect(
            added.stderr.contains("warning: command line: --time[0] = \"02:30\": does not exist on 20"),
            "\(added.stderr)")
        #expect(
            added.stderr.contains("the clocks jump from 02:00 to 03:00, and systemd skips a time that does not exist"),
            "\(added.stderr)")
        #expect(
            added.stderr.contains("warning: command line: --time[0] = \"02:30\": occurs twice on 20"), "\(added.stderr)"
        )

        // The named spring-forward date is one on which systemd starts no run at 02:30.
        let skipped = try #require(added.stderr.firstMatch(of: /does not exist on (\d{4}-\d\d-\d\d)/)?.output.1)
        let calendar = try Spawn.run(
            "/usr/bin/env",
            [
                "TZ=UTC", "systemd-analyze", "calendar", "--base-time=\(skipped) 00:00:00 UTC",
                "*-*-* 02:30:00 Europe/Prague",
            ])
        #expect(calendar.status == 0, "\(calendar.stderr)")
        let next = try #require(calendar.stdout.firstMatch(of: /Next elapse: \w+ (\d{4}-\d\d-\d\d)/)?.output.1)
        #expect(next != skipped, "systemd runs on \(skipped) after all: \(calendar.stdout)")

        let check = try cli("config", "check")
        #expect(
            check.stdout.contains(
                """
                warning: registrations.d/nightly.toml: schedule.times[0] = \"02:30\": does not exist on \
                \(skipped) in Europe/Prague
                """
            ),
            "\(check.stdout)")
        // Every run reads the configuration; date-dependent warnings stay out of it.
        #expect(!(try cli("generate", "--check").output.contains("does not exist on")))

        let moved = try cli("registration", "edit", "nightly", "--time", "03:30")
        #expect(moved.status == 0)
        #expect(!moved.stderr.contains("does not exist") && !moved.stderr.contains("occurs twice"), "\(moved.stderr)")
        // A zone without summer time has nothing to warn about.
        let utc = try cli(
            "registration", "add", "utc", "--provider", "filesystem", "--path", "c", "--schedule", "daily", "--time",
            "02:30", "--timezone", "UTC")
        #expect(!utc.stderr.contains("does not exist"), "\(utc.stderr)")
    }
}

@Suite("Generator report", .serialized)
struct GeneratorReportTests {
    @Test(
        """
        what the generator reported without /dev/kmsg is shown by status and config check, until a clean run \
        removes it
        """
    )
    func shownByStatusAndConfigCheck() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("nightly", schedule: "daily", "--time", "03:00")
        // Written as systemd's generator writes it in a container (see scripts/systemd-container/service-test.sh).
        let problem =
            "skipped: error: registrations.d/broken.toml: schedule.times[0] = \"25:00\": hour 25 is out of range 00-23"
        GeneratorReport.save([problem], runtimeDirectory: cli.runtimeDirectory)
        let status = try cli("status")
        #expect(status.status == 0)
        #expect(status.stdout.contains("the systemd generator reported at its last run ("), "\(status.stdout)")
        #expect(status.stdout.contains("  \(problem)"), "\(status.stdout)")
        let check = try cli("config", "check")
        #expect(check.stdout.contains("  \(problem)"), "\(check.stdout)")
        #expect(check.stdout.contains("run: dbbackup apply"), "\(check.stdout)")
        // JSON stays a list of registrations.
        #expect((try cli.json("status", "--json") as? [Any])?.count == 1)

        GeneratorReport.save([], runtimeDirectory: cli.runtimeDirectory)
        #expect(!FileManager.default.fileExists(atPath: GeneratorReport.path(runtimeDirectory: cli.runtimeDirectory)))
        #expect(!(try cli("status").stdout.contains("generator reported")))
    }
}

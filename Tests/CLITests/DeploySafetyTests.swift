import BackupCore
import Foundation
import TestKit
import Testing

/// A deploy never goes on without its backups, and one bad input never stops the rest.
@Suite("A deploy never goes on without its backups", .serialized)
struct DeploySafetyTests {
    @Test("a broken migration registration fails run --trigger migration and pre-migrate, after the others are stored")
    func brokenMigrationRegistration() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("good")
        try cli.addRegistration("other", path: "c")
        // A hand edit breaks one: a typo in its schedule.
        let file = "\(cli.configDirectory)/registrations.d/other.toml"
        try
            (try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(
                of: "type = 'migration'", with: "type = 'migraton'"))
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains("migraton"))

        let run = try cli("run", "--trigger", "migration")
        #expect(run.status == ExitStatus.configuration.code, "\(run.output)")
        #expect(run.stdout.contains("good: stored"), "the others are still backed up: \(run.output)")
        #expect(run.stderr.contains("registrations.d/other.toml is broken"), "\(run.stderr)")
        let premigrate = try cli("pre-migrate", "--timeout", "60s")
        #expect(premigrate.status == ExitStatus.configuration.code, "\(premigrate.output)")

        // A broken file that says it is weekly is not a migration registration.
        try "provider = 'filesystem'\npath = 'd'\n[schedule]\ntype = 'weekly'\ntimes = ['25:00']\nweekdays = ['mon']\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try cli("run", "--trigger", "migration").status == 0)
    }

    @Test("registrations.d that is a file or a symlink loop is an error for config check, generate --check and status")
    func unreadableRegistrationsDirectory() throws {
        for kind in ["file", "loop"] {
            let cli = try CLI.initialized()
            let directory = "\(cli.configDirectory)/registrations.d"
            try FileManager.default.removeItem(atPath: directory)
            if kind == "file" {
                try "not a directory".write(toFile: directory, atomically: true, encoding: .utf8)
            } else {
                try FileManager.default.createSymbolicLink(atPath: directory, withDestinationPath: directory)
            }
            let check = try cli("config", "check")
            #expect(check.status == ExitStatus.configuration.code, "\(kind): \(check.output)")
            #expect(check.stdout.contains("registrations.d: cannot be read as a directory"), "\(kind): \(check.output)")
            #expect(!check.stdout.contains("configuration OK"))
            let generate = try cli("generate", "--check")
            #expect(generate.status == ExitStatus.configuration.code, "\(kind): \(generate.output)")
            let status = try cli("status")
            #expect(
                status.stderr.contains("registrations.d: cannot be read as a directory"), "\(kind): \(status.output)")
        }
    }

    @Test(
        "a registration file nested 10,000 deep is one error; config check, status, generate and migration runs go on")
    func deepNesting() throws {
        let cli = try CLI.initialized()
        try cli.addRegistration("good")
        let deep =
            "provider = 'filesystem'\npath = 'x'\nextra = " + String(repeating: "[", count: 10_000)
            + String(repeating: "]", count: 10_000) + "\n"
        try deep.write(toFile: "\(cli.configDirectory)/registrations.d/deep.toml", atomically: true, encoding: .utf8)
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code, "\(check.output)")
        #expect(check.stdout.contains("nest more than 32 deep"), "\(check.output)")
        #expect(try cli("status").status == 0)
        let generated = "\(cli.root)/generated"
        #expect(try cli("generate", generated).status == 0)
        // The broken file may be a migration registration: the run fails, after storing the good one.
        let run = try cli("run", "--trigger", "migration")
        #expect(run.status == ExitStatus.configuration.code, "\(run.output)")
        #expect(run.stdout.contains("good: stored"))

        // Files far larger than any configuration are refused before they are read.
        try Data(repeating: UInt8(ascii: "#"), count: 3 << 20).write(
            to: URL(fileURLWithPath: "\(cli.configDirectory)/registrations.d/big.toml"))
        #expect(try cli("config", "check").stdout.contains("registrations.d/big.toml: is larger than 1 MiB"))
    }

    @Test("retention set repairs an invalid stored value")
    func retentionSetRepairs() throws {
        let cli = try CLI.initialized()
        let main = "\(cli.configDirectory)/dbbackup.toml"
        let text = try String(contentsOfFile: main, encoding: .utf8)
        try text.replacingOccurrences(of: "local = 7", with: "local = 16").write(
            toFile: main, atomically: true, encoding: .utf8)
        #expect(try cli("config", "check").status == ExitStatus.configuration.code)
        let set = try cli("retention", "set", "--local", "15")
        #expect(set.status == 0, "\(set.output)")
        #expect(try cli.json("retention", "show", "--json") as? [String: Int] == ["local": 15, "remote": 14])
        #expect(try cli("retention", "set", "--remote", "3").status == 0)
    }
}

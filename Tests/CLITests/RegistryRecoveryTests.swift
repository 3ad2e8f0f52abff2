import BackupCore
import Foundation
import SystemCalls
import TestKit
import Testing

/// The registry can be lost or damaged without losing the backups: they stay restorable
/// without it, and `registry rebuild` brings them back under retention.
@Suite("Losing the registry never loses the backups", .serialized)
struct RegistryRecoveryTests {
    static func locations(_ cli: CLI) throws -> [String] {
        (try cli.json("list", "--json") as! [[String: Any]]).map { $0["location"] as! String }
    }

    @Test(
        """
        a deleted registry: the run says how to get the old backups back, and registry rebuild records them as \
        the oldest
        """
    )
    func deletedRegistry() throws {
        let cli = try CLI.initialized()
        try cli("retention", "set", "--local", "3")
        try cli.addRegistration("nightly")
        for _ in 1...2 { #expect(try cli("run", "nightly", "--trigger", "timer").status == 0) }
        let before = try Self.locations(cli)
        try FileManager.default.removeItem(atPath: "\(cli.stateDirectory)/registry.db")
        try? FileManager.default.removeItem(atPath: "\(cli.stateDirectory)/registry.db-wal")
        try? FileManager.default.removeItem(atPath: "\(cli.stateDirectory)/registry.db-shm")

        let run = try cli("run", "nightly")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("holds 2 backup file(s) the registry does not know"), "\(run.stderr)")
        #expect(run.stderr.contains("dbbackup registry rebuild --registration nightly"), "\(run.stderr)")
        let newest = try Self.locations(cli)
        #expect(newest.count == 1)

        let rebuild = try cli("registry", "rebuild")
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.stdout.contains("nightly: 2 backup(s) found"), "\(rebuild.output)")
        let listed = try cli.json("list", "--json") as! [[String: Any]]
        #expect(
            listed.map { $0["location"] as! String } == before + newest, "rebuilt backups come before the newer one")
        for backup in listed {
            let path = backup["location"] as! String
            #expect(backup["sha256"] as? String == (try FileSystem.sha256(of: path).sha256))
            #expect(backup["version"] as? Int == 7)
        }
        #expect(
            listed.map { $0["trigger"] as? String } == ["timer", "timer", "manual"],
            "the trigger recorded beside each file")
        #expect(
            try cli("registry", "rebuild").stdout.contains("nightly: 0 backup(s) found"),
            "a second rebuild finds nothing new")

        // Retention counts them again, oldest first.
        try cli("retention", "set", "--local", "1")
        #expect(try cli("run", "nightly").status == 0)
        #expect(try Self.locations(cli).count == 1)
        for path in before + newest { #expect(!FileManager.default.fileExists(atPath: path), "\(path) was pruned") }
    }

    @Test(
        """
        a registry lost while the database was emptied: registry rebuild judges what it finds and the runs since \
        in order, and retention keeps the good backups
        """
    )
    func rebuildJudgesInOrder() throws {
        let cli = try CLI.initialized(rows: 5000)
        try cli("retention", "set", "--local", "2")
        try cli.addRegistration("nightly")
        // Two days ago, a good backup; yesterday the database was emptied, and that run marked
        // its backup suspect (the time in a backup's name is all a rebuild orders them by).
        #expect(try cli.run(["run", "nightly"], clock: RetentionSafetyTests.daysAgo(2)).status == 0)
        let good = try Self.locations(cli)
        try Data().write(to: URL(fileURLWithPath: cli.database))
        let emptied = try cli.run(["run", "nightly"], clock: RetentionSafetyTests.daysAgo(1))
        #expect(emptied.status == ExitStatus.suspect.code)
        // Then the registry is lost: the next run has nothing to judge by.
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: "\(cli.stateDirectory)/registry.db" + suffix)
        }
        #expect(try cli("run", "nightly").status == 0)

        let rebuild = try cli("registry", "rebuild")
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.stdout.contains("suspect"), "says what it found suspect: \(rebuild.output)")
        let listed = try cli.json("list", "--json") as! [[String: Any]]
        #expect(listed.map { $0["suspect"] is String } == [false, true, true], "\(listed) \(rebuild.output)")
        for _ in 1...2 { #expect(try cli("run", "nightly").status == ExitStatus.suspect.code) }
        #expect(FileManager.default.fileExists(atPath: good[0]), "the good backup is kept")
        #expect(try cli("status", "--check").status != 0, "a suspect backup is a warning")
    }

    @Test("a damaged registry is set aside, never deleted; runs go on and name registry rebuild")
    func damagedRegistry() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        let registry = "\(cli.stateDirectory)/registry.db"
        // Checkpoint the WAL into the file, then damage the file's pages.
        _ = try SQLiteConnection(path: registry, mode: .readWrite).scalar("PRAGMA wal_checkpoint(TRUNCATE)")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: registry)))
        for index in 100..<bytes.count { bytes[index] = UInt8(truncatingIfNeeded: index * 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: registry))

        let run = try cli("run", "nightly")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stderr.contains("the registry was damaged"), "\(run.stderr)")
        #expect(run.stderr.contains("dbbackup registry rebuild"), "\(run.stderr)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: cli.stateDirectory).filter {
            $0.hasPrefix("registry.db.damaged-")
        }
        #expect(aside.count == 1, "\(aside)")
        let setAside = try #require(aside.first)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: "\(cli.stateDirectory)/\(setAside)")) == Data(bytes),
            "set aside as it was")
        #expect(try cli("registry", "rebuild").status == 0)
        #expect(try Self.locations(cli).count == 2)
    }

    @Test(
        "restore without a registry: a backup file is verified by the SHA-256 recorded beside it and by integrity_check"
    )
    func restoreFileWithoutRegistry() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        let backup = try #require(try Self.locations(cli).first)
        // The drill: the whole state directory is gone.
        try FileManager.default.removeItem(atPath: cli.stateDirectory)
        let restored = "\(cli.root)/restored.db"
        let restore = try cli("restore", backup, "--to", restored)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(restore.stdout.contains("verified against the file's extended attribute"), "\(restore.stdout)")
        #expect(FileManager.default.contents(atPath: restored) == FileManager.default.contents(atPath: backup))

        // A damaged copy is refused, and the destination is left alone.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: backup)))
        bytes[bytes.count / 2] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: backup))
        let damaged = try cli("restore", backup, "--to", restored, "--force")
        #expect(damaged.status != 0)
        #expect(damaged.stderr.contains("does not match the SHA-256"), "\(damaged.stderr)")
    }

    @Test("restore --force refuses while a process has the database open, unless --even-if-open")
    func restoreOverLiveDatabase() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        // The application keeps its database open (idle between requests).
        let stop = "\(cli.root)/stop"
        let app = try Spawn.start(
            "python3",
            [
                "-c",
                """
                import os, sqlite3, sys, time
                db = sqlite3.connect(sys.argv[1], isolation_level=None)
                db.execute("INSERT INTO t (v) VALUES ('written by the app')")
                open(sys.argv[2] + ".ready", "w").close()
                while not os.path.exists(sys.argv[2]): time.sleep(0.02)
                """, cli.database, stop,
            ])
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: stop + ".ready") { usleep(10_000) }
        defer {
            _ = FileManager.default.createFile(atPath: stop, contents: Data())
            _ = app.wait()
        }

        let refused = try cli("restore", "latest", "--to", cli.database, "--force")
        #expect(refused.status != 0, "\(refused.output)")
        #expect(refused.stderr.contains("is in use by PID \(app.pid) (python3)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--even-if-open"))
        let rows = try SQLiteConnection(path: cli.database, mode: .readOnly).scalar(
            "SELECT count(*) FROM t WHERE v = 'written by the app'")
        #expect(rows == "1", "the live database was left alone")
        let forced = try cli("restore", "latest", "--to", cli.database, "--force", "--even-if-open")
        #expect(forced.status == 0, "\(forced.output)")
    }

    @Test(
        """
        restore --force, run as root, leaves the database the owner, group and mode it had: the application \
        can write it at once
        """
    )
    func restoreKeepsOwnership() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        guard getuid() == 0 else { return }  // only root can give a file to another user
        // The application's user and group (no entry needed), 0640 as the README's first layout.
        try FileManager.default.setAttributes(
            [.ownerAccountID: 4321, .groupOwnerAccountID: 4322, .posixPermissions: 0o640], ofItemAtPath: cli.database)
        let forced = try cli("restore", "latest", "--to", cli.database, "--force")
        #expect(forced.status == 0, "\(forced.output)")
        let attributes = try FileManager.default.attributesOfItem(atPath: cli.database)
        #expect(attributes[.ownerAccountID] as? Int == 4321, "\(attributes)")
        #expect(attributes[.groupOwnerAccountID] as? Int == 4322, "\(attributes)")
        #expect(attributes[.posixPermissions] as? Int == 0o640, "\(attributes)")
    }

    @Test("a restore to a new path, run as root, gives the file to the owner of its directory")
    func restoreToNewPathTakesDirectoryOwner() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        guard getuid() == 0 else { return }  // only root can give a file to another user
        // The application's directory, as the README lays it out: the application's user owns it.
        let directory = "\(cli.root)/myapp"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.ownerAccountID: 4321, .groupOwnerAccountID: 4322, .posixPermissions: 0o750])
        let restored = try cli("restore", "latest", "--to", "\(directory)/app.db")
        #expect(restored.status == 0, "\(restored.output)")
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/app.db")
        #expect(attributes[.ownerAccountID] as? Int == 4321, "\(attributes)")
        #expect(attributes[.groupOwnerAccountID] as? Int == 4322, "\(attributes)")
        #expect(attributes[.posixPermissions] as? Int == 0o600, "\(attributes)")
    }

    @Test("the temporary file of an interrupted restore is removed by the next restore")
    func interruptedRestore() throws {
        let cli = try CLI.initialized()
        try cli.backUpNightly()
        let directory = "\(cli.root)/out"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // What a restore killed halfway leaves: a full-size hidden file of a process that is gone.
        let abandoned = "\(directory)/.app.db.dbbackup-restore-999999"
        try Data(repeating: 1, count: 100_000).write(to: URL(fileURLWithPath: abandoned))
        #expect(try cli("restore", "latest", "--to", "\(directory)/app.db").status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["app.db"])
    }
}

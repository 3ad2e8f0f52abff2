import BackupCore
import Foundation
import Testing

/// Accidents that must never cost the good backups: a clock stepped back, a database emptied
/// or replaced by an older one.
@Suite("Retention never deletes the good backups by accident", .serialized)
struct RetentionSafetyTests {
    static func backups(_ cli: CLI, _ name: String? = nil) throws -> [[String: Any]] {
        try cli.json(["list", "--json"] + (name.map { [$0] } ?? [])) as! [[String: Any]]
    }

    /// A time `days` before now, for faketime (`@` lets the clock run from there).
    static func daysAgo(_ days: Int) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "@" + formatter.string(from: Date().addingTimeInterval(-Double(days) * 86_400))
    }

    @Test(
        """
        a clock stepped back: the run keeps the backup it just stored, and latest and list follow the order of \
        the runs
        """
    )
    func clockSteppedBack() throws {
        let cli = try CLI.initialized()
        try cli("retention", "set", "--local", "1")
        try cli.backUpNightly()
        // A VM restored from a snapshot, or NTP stepping the clock: a day behind.
        let behind = try cli.run(["run", "nightly"], clock: Self.daysAgo(1))
        #expect(behind.status == 0, "\(behind.output)")
        let kept = try Self.backups(cli)
        #expect(kept.count == 1)
        let newest = try #require(kept.last?["location"] as? String)
        #expect(
            behind.stdout.contains("stored \(newest)"), "the backup the run just stored was deleted: \(behind.output)")
        #expect(FileManager.default.fileExists(atPath: newest))

        // latest is the backup made last, whatever its time says.
        let restored = "\(cli.root)/restored.db"
        let restore = try cli("restore", "latest", "--to", restored)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(FileManager.default.contents(atPath: restored) == FileManager.default.contents(atPath: newest))

        // list is in the order the backups were made, not by their times.
        try cli("retention", "set", "--local", "3")
        #expect(try cli.run(["run", "nightly"], clock: Self.daysAgo(3)).status == 0)
        #expect(try cli("run", "nightly").status == 0)
        let ids = try Self.backups(cli).map { $0["id"] as! Int }
        #expect(ids == ids.sorted(), "list shows the backups in the order they were made: \(ids)")
    }

    @Test("an emptied database is stored as suspect, exits 65, and never pushes a good backup out until confirmed")
    func emptiedDatabase() throws {
        let cli = try CLI.initialized()
        try cli("retention", "set", "--local", "1")
        try cli.backUpNightly()
        let good = try #require(try Self.backups(cli).first)

        // The application's database is emptied (a bad deploy, a truncating script).
        try Data().write(to: URL(fileURLWithPath: cli.database))
        for _ in 1...2 {
            let run = try cli("run", "nightly")
            #expect(run.status == ExitStatus.suspect.code, "\(run.output)")
            #expect(run.stderr.contains("looks wrong: the database is empty"), "\(run.stderr)")
            #expect(run.stderr.contains("dbbackup confirm"), "\(run.stderr)")
        }
        var listed = try Self.backups(cli)
        #expect(listed.contains { $0["id"] as? Int == good["id"] as? Int }, "the good backup is still kept")
        #expect(FileManager.default.fileExists(atPath: good["location"] as! String))
        let suspects = listed.filter { $0["suspect"] is String }
        #expect(suspects.count == 1, "suspect backups are limited among themselves: \(listed)")
        #expect(try cli("list").stdout.contains("suspect"))

        // Restoring is what comes next: latest is the last good backup, not the empty one.
        let restored = "\(cli.root)/restored.db"
        let restore = try cli("restore", "latest", "--to", restored)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(
            FileManager.default.contents(atPath: restored)
                == FileManager.default.contents(atPath: good["location"] as! String))
        #expect(restore.stdout.contains("suspect"), "says which newer suspect backup it passed over: \(restore.output)")

        // A person confirms the newest: the database really is meant to be empty now.
        let confirmed = try #require(suspects.last?["id"] as? Int)
        let confirm = try cli("confirm", String(confirmed))
        #expect(confirm.status == 0, "\(confirm.output)")
        #expect(try cli("confirm", String(good["id"] as! Int)).status != 0, "a good backup has nothing to confirm")
        let after = try cli("run", "nightly")
        #expect(after.status == 0, "judged against the confirmed backup, an empty database is fine: \(after.output)")
        listed = try Self.backups(cli)
        #expect(listed.count == 1)
        #expect(
            !FileManager.default.fileExists(atPath: good["location"] as! String),
            "once confirmed, retention applies as usual")
    }

    @Test("a database replaced by a much smaller one, or by an older schema version, is suspect")
    func replacedDatabase() throws {
        let cli = try CLI.initialized(rows: 5000)
        try cli.backUpNightly()

        // An old copy of the database put back by mistake: fewer rows, vacuumed.
        try cli.replaceDatabase(rows: 100)
        let smaller = try cli("run", "nightly")
        #expect(smaller.status == ExitStatus.suspect.code, "\(smaller.output)")
        #expect(smaller.stderr.contains("less than half"), "\(smaller.stderr)")

        // The right size, but an older schema version than the last good backup's 7.
        try cli.replaceDatabase(rows: 5000)
        let db = try SQLiteConnection(path: cli.database, mode: .readWrite)
        try db.execute("PRAGMA user_version = 6")
        let older = try cli("run", "nightly")
        #expect(older.status == ExitStatus.suspect.code, "\(older.output)")
        #expect(older.stderr.contains("schema version 6 is older than 7"), "\(older.stderr)")
    }

    @Test(
        """
        a database whose rows were deleted keeps its file size, and is suspect all the same: what is compared is \
        the data it holds
        """
    )
    func rowsDeleted() throws {
        let cli = try CLI.initialized(rows: 20_000, payloadSize: 200)
        try cli("retention", "set", "--local", "1")
        try cli.backUpNightly()
        let good = try #require(try Self.backups(cli).first)
        let before = try FileManager.default.attributesOfItem(atPath: cli.database)[.size] as? Int

        // A bug or a bad migration deletes every row: SQLite keeps the pages, as free pages.
        let db = try SQLiteConnection(path: cli.database, mode: .readWrite)
        try db.execute("DELETE FROM t; PRAGMA wal_checkpoint(TRUNCATE)")
        #expect(try FileManager.default.attributesOfItem(atPath: cli.database)[.size] as? Int == before)
        for _ in 1...2 {
            let run = try cli("run", "nightly")
            #expect(run.status == ExitStatus.suspect.code, "\(run.output)")
            #expect(run.stderr.contains("of data"), "\(run.stderr)")
        }
        #expect(
            FileManager.default.fileExists(atPath: good["location"] as! String), "the good backup is still kept")
    }

    @Test("an empty file given to init is judged against the registration's last good backup, of any database")
    func emptyFileGivenToInit() throws {
        let cli = try CLI.initialized(rows: 5000)
        try cli("retention", "set", "--local", "1")
        try cli.backUpNightly()
        let good = try #require(try Self.backups(cli).first)
        // The wrong path, or a file not yet copied into place.
        let other = "\(cli.root)/app.sqlite"
        try Data().write(to: URL(fileURLWithPath: other))
        let initialized = try cli("init", "--database", other)
        #expect(initialized.stderr.contains("warning: \(other) is empty (0 bytes)"), "\(initialized.stderr)")

        // A file that is not a database at all is refused, and the configuration kept.
        let text = "\(cli.root)/notes.txt"
        try Data("not a database, just notes\n".utf8).write(to: URL(fileURLWithPath: text))
        let refused = try cli("init", "--database", text)
        #expect(refused.status == ExitStatus.configuration.code, "\(refused.output)")
        #expect(refused.stderr.contains("--database"), "\(refused.stderr)")
        #expect(refused.stderr.contains("not an SQLite database"), "\(refused.stderr)")
        #expect(try cli("config", "export", "--json").stdout.contains(other), "the configuration was kept")
        let run = try cli("run", "nightly")
        #expect(run.status == ExitStatus.suspect.code, "\(run.output)")
        #expect(run.stderr.contains("the database is empty"), "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: good["location"] as! String))
    }

    @Test("the first backup of an empty database is not suspect: there is nothing to compare it with")
    func firstBackupOfEmptyDatabase() throws {
        let cli = try CLI()
        try Data().write(to: URL(fileURLWithPath: cli.database))
        try cli("init", "--database", cli.database)
        try cli.addRegistration("pre")
        let run = try cli("run", "--trigger", "migration")
        #expect(run.status == 0, "\(run.output)")
    }

    @Test("after init points at another database, its first backup is not judged against the old database's")
    func anotherDatabase() throws {
        let cli = try CLI.initialized(rows: 5000)
        try cli.backUpNightly()
        // A smaller database at an older schema version, chosen on purpose.
        let other = "\(cli.root)/other.db"
        let db = try SQLiteConnection(path: other, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=WAL; CREATE TABLE t (x); PRAGMA user_version = 3")
        try cli("init", "--database", other)
        let run = try cli("run", "nightly")
        #expect(run.status == 0, "\(run.output)")
    }

    @Test("backups made in one second get fixed-width suffixes and sort as they were made")
    func namesSortAsMade() throws {
        let cli = try CLI.initialized()
        try cli("retention", "set", "--local", "15")
        try cli.addRegistration("pre")
        // A clock standing still: every run is in the same second.
        for _ in 1...11 { #expect(try cli.run(["run", "pre"], clock: "2026-06-01 12:00:00").status == 0) }
        let names = try Self.backups(cli).map { ($0["location"] as! String as NSString).lastPathComponent }
        #expect(names.count == 11)
        #expect(names == names.sorted(), "\(names)")
        #expect(names.last == "db_v7_20260601T120000Z_011.db", "\(names)")
    }
}

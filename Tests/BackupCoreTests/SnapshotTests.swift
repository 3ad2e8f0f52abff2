import BackupCore
import Foundation
import Testing

@Suite("Snapshots of a live database")
struct SnapshotTests {
    /// Takes snapshots while another process commits transactions as fast as it can, and checks
    /// each snapshot is a healthy database holding exactly a prefix 1…n of the writes.
    func snapshotsUnderLoad(wal: Bool) throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 2000, wal: wal)
        let stopFile = "\(sandbox.root)/stop"
        let writer = try WriterProcess(database: sandbox.database, stopFile: stopFile)
        var prefixes: [Int] = []
        for round in 0..<5 {
            let staging = "\(sandbox.root)/snapshot-\(round).db"
            let result = try Snapshot.take(
                database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 30_000)
            #expect(result.version == "42")
            // The writer's commits sit in the WAL; in rollback mode the file alone is the snapshot.
            #expect(result.method == (wal ? .onlineBackup : .fileCopy))
            let copy = try SQLiteConnection(path: staging, mode: .readOnly)
            #expect(try copy.scalar("PRAGMA integrity_check") == "ok")
            let countA = Int(try copy.scalar("SELECT count(*) FROM a") ?? "-1")!
            let countB = Int(try copy.scalar("SELECT count(*) FROM b") ?? "-1")!
            let maxA = Int(try copy.scalar("SELECT coalesce(max(seq), 0) FROM a") ?? "-1")!
            // Both tables are written in one transaction: a consistent copy has the same prefix in both.
            #expect(countA == countB)
            #expect(countA == maxA, "rows 1…\(maxA) without a gap")
            #expect(try copy.scalar("SELECT count(*) FROM items") == "2000")
            prefixes.append(countA)
            usleep(50_000)
        }
        let committed = try writer.stop(stopFile: stopFile)
        #expect(committed > 0)
        #expect(prefixes.last! <= committed)
        #expect(
            prefixes != prefixes.sorted().reversed() || Set(prefixes).count > 1,
            "the writer kept writing between snapshots: \(prefixes)")
    }

    @Test("WAL database under concurrent writes") func wal() throws { try snapshotsUnderLoad(wal: true) }
    @Test("rollback-journal database under concurrent writes") func rollback() throws {
        try snapshotsUnderLoad(wal: false)
    }

    @Test("a version query runs on the snapshot; a bad one is a clear error")
    func versionQuery() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute(
            """
            CREATE TABLE schema_migrations (version TEXT); INSERT INTO schema_migrations VALUES \
            ('20261101_add_users'), ('20261120_add_orders')
            """
        )
        let result = try Snapshot.take(
            database: sandbox.database, to: "\(sandbox.root)/s1.db",
            versionQuery: "SELECT max(version) FROM schema_migrations", busyTimeoutMilliseconds: 1000)
        #expect(result.version == "20261120_add_orders")

        #expect(throws: SnapshotError.self) {
            try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/s2.db", versionQuery: "SELECT nope FROM nowhere",
                busyTimeoutMilliseconds: 1000)
        }
        do {
            _ = try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/s3.db", versionQuery: "SELECT 'has space/slash'",
                busyTimeoutMilliseconds: 1000)
            Issue.record("an unsafe version was accepted")
        } catch {
            #expect(error.code == .versionQuery)
            #expect(error.message.contains("database.version_query"))
        }
    }

    @Test("a version query must be one statement that only reads and returns one column")
    func versionQueryShape() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute("CREATE TABLE schema_migrations (version TEXT); INSERT INTO schema_migrations VALUES ('7')")
        let accepted = [
            "PRAGMA user_version", "SELECT max(version) FROM schema_migrations",
            "SELECT max(version) FROM schema_migrations;",
            "SELECT 1 -- the version\n;  ", "/* v */ SELECT version FROM schema_migrations",
        ]
        for query in accepted { #expect(try VersionQuery.problem(query, on: db) == nil, "\(query)") }
        let refused: [(String, String)] = [
            ("SELEC nonsense", "does not compile"), ("SELECT nope FROM nowhere", "does not compile"),
            ("-- nothing but a comment", "does not compile"),
            ("DELETE FROM schema_migrations", "would change the database"),
            ("PRAGMA user_version = 9", "would change the database"),
            ("SELECT 1, 2", "returns 2 columns"),
            ("SELECT 1; DELETE FROM schema_migrations", "more than one statement"),
            ("SELECT 1; garbage", "more than one statement"),
        ]
        for (query, expected) in refused {
            let problem = try VersionQuery.problem(query, on: db)
            #expect(problem?.contains(expected) == true, "\(query): \(problem ?? "accepted")")
        }
        // The checks ran nothing: the table and the version are as they were.
        #expect(try db.scalar("SELECT count(*) FROM schema_migrations") == "1")
        #expect(try db.scalar("PRAGMA user_version") == "42")

        // A run refuses such a query before running it, and says why.
        do {
            _ = try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/s.db",
                versionQuery: "SELECT version, 1 FROM schema_migrations",
                busyTimeoutMilliseconds: 1000)
            Issue.record("a two-column version query was accepted")
        } catch {
            #expect(error.code == .versionQuery)
            #expect(error.message.contains("returns 2 columns"))
        }
    }

    @Test("missing database and a file that is not a database")
    func badSources() throws {
        let sandbox = try Sandbox()
        do {
            _ = try Snapshot.take(
                database: "\(sandbox.root)/missing.db", to: "\(sandbox.root)/s.db", versionQuery: nil,
                busyTimeoutMilliseconds: 100)
            Issue.record("no error")
        } catch {
            #expect(error.code == .missingDatabase)
        }
        try sandbox.write(String(repeating: "this is not sqlite\n", count: 500), to: "text.db")
        do {
            _ = try Snapshot.take(
                database: "\(sandbox.root)/text.db", to: "\(sandbox.root)/s.db", versionQuery: nil,
                busyTimeoutMilliseconds: 100)
            Issue.record("no error")
        } catch {
            #expect(error.code == .notADatabase)
            #expect(error.message.contains("not an SQLite database"))
        }
    }

    @Test("a writer holding the database longer than the busy timeout fails the snapshot clearly")
    func lockedByWriter() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(wal: false)
        let holder = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try holder.execute("BEGIN EXCLUSIVE; INSERT INTO items (payload) VALUES ('held')")
        defer { try? holder.execute("ROLLBACK") }
        do {
            _ = try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/s.db", versionQuery: nil, busyTimeoutMilliseconds: 200)
            Issue.record("no error")
        } catch {
            #expect(error.code == .busy)
            #expect(error.message.contains("locked"))
            // The setting to raise is busy_timeout; lock_timeout is a different one.
            #expect(error.message.contains("longer than the busy timeout"), "\(error.message)")
            #expect(!error.message.contains("lock timeout"))
        }
    }
}

@Suite("Database trouble during a snapshot")
struct DatabaseTroubleTests {
    /// A database big enough for several backup steps, so the progress callback runs mid-copy.
    func bigDatabase(_ sandbox: Sandbox) throws {
        try sandbox.makeDatabase(rows: 80_000)  // ~20 MB: 5 steps of 4096 pages
    }

    @Test("deleted during the copy: a clear failure", arguments: ["delete", "replace"])
    func changedDuringCopy(how: String) throws {
        let sandbox = try Sandbox()
        try bigDatabase(sandbox)
        let other = "\(sandbox.root)/other.db"
        try sandbox.makeDatabase(rows: 10, path: other)
        var done = false
        do {
            _ = try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/s.db", versionQuery: nil, busyTimeoutMilliseconds: 1000
            ) { copied, total in
                guard !done, copied > 0, copied < total else { return }
                done = true
                if how == "delete" {
                    try? FileManager.default.removeItem(atPath: sandbox.database)
                } else {
                    _ = rename(other, sandbox.database)
                }
            }
            Issue.record("a snapshot of a \(how)d database was accepted")
        } catch {
            #expect(done, "the callback ran mid-copy")
            #expect(error.code == .replaced)
            #expect(error.message.contains("deleted or replaced"))
        }
    }

    @Test("a damaged database: a clear failure, nothing stored")
    func corrupted() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 5000, wal: false)
        // Overwrite part of a b-tree page in the middle of the file.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: sandbox.database))
        try handle.seek(toOffset: 4096 * 20 + 100)
        handle.write(Data(repeating: 0xA5, count: 3000))
        try handle.close()
        let config = try sandbox.writeMain()
        let registration = try sandbox.filesystemRegistration("pre")
        do {
            _ = try sandbox.runner(config).run(registration, trigger: .manual)
            Issue.record("a damaged database was backed up")
        } catch {
            #expect(error.kind == .snapshot)
            #expect(error.message.contains("quick_check") || error.message.contains("damaged"), "\(error.message)")
        }
        #expect(try sandbox.registry().storedBackups().isEmpty)
        #expect(sandbox.files(in: "\(sandbox.root)/backups/pre").isEmpty)
    }
}

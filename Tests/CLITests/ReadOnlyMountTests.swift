import BackupCore
import Foundation
import TestKit
import Testing

/// SQLite cannot read some databases without writing beside them: a WAL database whose -wal and
/// -shm do not exist, and a rollback database with a hot journal (a writer that crashed
/// mid-transaction). On a read-only mount that is impossible; the errors say so, and the fix.
/// The mount is a tmpfs remounted read-only in a mount namespace of the run's own (unshare,
/// as root): the host's mounts are not touched.
@Suite("Command line: databases on a read-only mount", .serialized)
struct ReadOnlyMountTests {
    /// `dbbackup run pre` with the database's directory mounted read-only; `prepare` fills the
    /// tmpfs first (from `source`, copied in).
    func runOnReadOnlyMount(_ cli: CLI, source: String, files: [String]) throws -> CLI.Result {
        let mount = "\(cli.root)/ro"
        let copies = files.map { "cp -p '\(source)/\($0)' '\(mount)/'" }.joined(separator: "\n")
        let script = """
            set -e
            mount -t tmpfs tmpfs '\(mount)'
            \(copies)
            mount -o remount,ro '\(mount)'
            exec '\(CLI.binary)' run pre --config-dir '\(cli.configDirectory)' --state-dir '\(cli.stateDirectory)'
            """
        return try cli.launch(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], environment: [:],
            input: nil)
    }

    func prepared(database: String) throws -> CLI {
        let cli = try CLI()
        try FileManager.default.createDirectory(atPath: "\(cli.root)/ro", withIntermediateDirectories: true)
        #expect(try cli("init", "--database", "\(cli.root)/ro/\(database)").status == 0)
        try cli.addRegistration("pre")
        return cli
    }

    @Test("a WAL database without its -wal/-shm on a read-only file system: the cause, and how to fix it")
    func walOnReadOnlyMount() throws {
        let cli = try prepared(database: "app.db")
        let source = "\(cli.root)/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let db = try SQLiteConnection(path: "\(source)/app.db", mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        withExtendedLifetime(db) {}
        let run = try runOnReadOnlyMount(cli, source: source, files: ["app.db"])
        #expect(run.status == ExitStatus.permission.code, "\(run.output)")
        #expect(
            run.stderr.contains(
                """
                creates app.db-wal and app.db-shm beside it, but the file system at \(cli.root)/ro is mounted \
                read-only
                """
            ), "\(run.stderr)")
        #expect(
            run.stderr.contains("mount -o remount,rw \(cli.root)/ro")
                && run.stderr.contains("PRAGMA journal_mode=DELETE"), "\(run.stderr)")
    }

    @Test("a hot journal on a read-only file system, and on a writable one: the cause, and how to fix it")
    func hotJournal() throws {
        let cli = try prepared(database: "hot.db")
        let source = "\(cli.root)/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        // A writer stopped mid-transaction: the database and its journal, copied while it ran.
        let script = """
            import shutil, sqlite3, sys
            d = sys.argv[1]
            db = sqlite3.connect(d + "/live.db", isolation_level=None)
            db.execute("PRAGMA journal_mode=DELETE"); db.execute("CREATE TABLE t(x)")
            for i in range(200): db.execute("INSERT INTO t VALUES (randomblob(1000))")
            db.execute("PRAGMA cache_size=1"); db.execute("BEGIN")
            for i in range(200): db.execute("UPDATE t SET x = randomblob(1000) WHERE rowid = ?", (i + 1,))
            shutil.copy(d + "/live.db", d + "/hot.db"); shutil.copy(d + "/live.db-journal", d + "/hot.db-journal")
            db.execute("ROLLBACK")
            """
        let made = try Spawn.run("/usr/bin/python3", ["-c", script, source])
        #expect(made.status == 0, "\(made.output)")
        let run = try runOnReadOnlyMount(cli, source: source, files: ["hot.db", "hot.db-journal"])
        #expect(run.status == ExitStatus.snapshot.code, "\(run.output)")
        #expect(
            run.stderr.contains("hot.db-journal is a hot journal: a writer stopped in the middle of a transaction"),
            "\(run.stderr)")
        #expect(
            run.stderr.contains(
                """
                the file system at \(cli.root)/ro is mounted read-only, so nobody can roll it back there: remount \
                it read-write
                """
            ), "\(run.stderr)")

        // On a writable file system: the application's next open rolls it back.
        for file in ["hot.db", "hot.db-journal"] {
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(cli.root)/ro/\(file)")
        }
        let writable = try cli("run", "pre")
        #expect(writable.status == ExitStatus.snapshot.code, "\(writable.output)")
        #expect(writable.stderr.contains("let the application open the database once"), "\(writable.stderr)")
        #expect(
            try SQLiteConnection(path: "\(cli.root)/ro/hot.db", mode: .readWrite).scalar("PRAGMA integrity_check")
                == "ok", "opened read-write, it rolls back")
        #expect(try cli("run", "pre").status == 0)
    }
}

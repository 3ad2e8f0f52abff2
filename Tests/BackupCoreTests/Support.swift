import BackupCore
import Foundation
import Logging
import TestKit
import Testing

/// A throw-away configuration and state directory with a real database, per test.
final class Sandbox {
    let root: String
    let locations: Locations
    var store: ConfigFiles { ConfigFiles(locations: locations) }
    var secrets: SecretFiles { SecretFiles(locations: locations) }
    var database: String { "\(root)/app.db" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("dbbackup-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        locations = Locations(configDirectory: "\(root)/etc", stateDirectory: "\(root)/state")
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Creates the application database with `rows` rows and a schema version.
    @discardableResult
    func makeDatabase(rows: Int = 100, version: Int = 42, wal: Bool = true, path: String? = nil) throws -> String {
        let path = path ?? database
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode=\(wal ? "WAL" : "DELETE")")
        try db.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        try db.execute("BEGIN")
        let insert = try db.prepare("INSERT INTO items (payload) VALUES (?)")
        for index in 0..<rows { try insert.run([.text("row \(index) " + String(repeating: "x", count: 200))]) }
        try db.execute("COMMIT")
        try db.execute("PRAGMA user_version = \(version)")
        return path
    }

    func writeMain(
        local: Int = 7, remote: Retention.RemoteLimit = .count(14), versionQuery: String? = nil, lockTimeout: Int = 600
    ) throws -> MainConfig {
        let config = MainConfig(
            database: DatabaseSettings(
                path: database, configDirectory: locations.configDirectory, versionQuery: versionQuery,
                lockTimeoutSeconds: lockTimeout),
            retention: Retention(local: local, remote: remote))
        try store.saveMain(config)
        return config
    }

    func filesystemRegistration(
        _ name: String, directory: String? = nil, schedule: Schedule = .migration
    ) throws -> Registration {
        let registration = Registration(
            name: name,
            provider: .filesystem(
                FilesystemTarget(
                    path: directory ?? "\(root)/backups/\(name)", configDirectory: locations.configDirectory)),
            schedule: schedule)
        try store.save(registration)
        return registration
    }

    func runner(_ config: MainConfig) -> BackupRunner {
        BackupRunner(locations: locations, config: config, logger: Logger(label: "test"))
    }

    func registry() throws -> BackupRegistry { try BackupRegistry(path: locations.registryPath) }

    func write(_ text: String, to relativePath: String) throws {
        let path = "\(root)/\(relativePath)"
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}

/// Runs a program and returns its exit status and output.
@discardableResult
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil
) throws -> (status: Int32, stdout: String, stderr: String) {
    let result = try Spawn.run(executable, arguments, environment: environment, input: input ?? "")
    return (result.status, result.stdout, result.stderr)
}

/// A separate process that keeps writing to a database: each transaction inserts one row into
/// `a` and one into `b` with the same sequence number, so any consistent snapshot holds rows
/// 1…n in both tables with no gap. It says it is ready (its first commit done) through a file,
/// stops when `stopFile` appears, and prints how many transactions it committed.
final class WriterProcess {
    let child: Spawn.Child

    init(database: String, stopFile: String) throws {
        let ready = stopFile + ".ready"
        let script = """
            import os, sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
            db.execute("CREATE TABLE IF NOT EXISTS a (seq INTEGER PRIMARY KEY, payload TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS b (seq INTEGER PRIMARY KEY, payload TEXT)")
            seq = db.execute("SELECT coalesce(max(seq), 0) FROM a").fetchone()[0]
            ready = False
            while not os.path.exists(sys.argv[2]):
                seq += 1
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO a VALUES (?, ?)", (seq, "x" * 500))
                db.execute("INSERT INTO b VALUES (?, ?)", (seq, "y" * 500))
                db.execute("COMMIT")
                if not ready:
                    open(sys.argv[3], "w").close()
                    ready = True
            print(seq, flush=True)
            """
        child = try Spawn.start("python3", ["-c", script, database, stopFile, ready])
        // Wait (bounded) until the writer has its tables and is writing.
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: ready) { usleep(10_000) }
    }

    /// Stops the writer and returns how many transactions it committed.
    func stop(stopFile: String) throws -> Int {
        _ = FileManager.default.createFile(atPath: stopFile, contents: Data())
        return Int(child.wait().stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}

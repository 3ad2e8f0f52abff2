import BackupCore
import Foundation
import TestKit
import Testing

/// Runs the real `dbbackup` binary against a throw-away configuration and state directory,
/// from the sandbox `root`, as a sysadmin or a deploy script would.
final class CLI {
    let root: String
    var configDirectory: String { "\(root)/etc" }
    var stateDirectory: String { "\(root)/state" }
    var runtimeDirectory: String { "\(root)/run" }
    var database: String { "\(root)/app.db" }
    /// Everything the binary printed, on both streams, for leak checks.
    private(set) var transcript = ""

    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["DBBACKUP_BIN"] { return path }
        // The test bundle sits beside the products in .build/<configuration>/.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while directory.path != "/"
            && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("dbbackup").path)
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("dbbackup").path
    }()

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("dbbackup-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// A sandbox with a database (of `rows` rows of `payloadSize` bytes) and `dbbackup init`
    /// done, where most tests start.
    static func initialized(rows: Int = 200, payloadSize: Int = 100) throws -> CLI {
        let cli = try CLI()
        try cli.makeDatabase(rows: rows, payloadSize: payloadSize)
        let result = try cli("init", "--database", cli.database)
        #expect(result.status == 0, "init: \(result.stderr)")
        return cli
    }

    /// Registers "nightly" (the filesystem, directory b, run on migrations) and backs up with it
    /// once.
    func backUpNightly(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try addRegistration("nightly", sourceLocation: sourceLocation)
        #expect(try self("run", "nightly").status == 0, sourceLocation: sourceLocation)
    }

    /// `registration add NAME --provider filesystem --path PATH --schedule SCHEDULE`, with any
    /// further `options`, expected to succeed: the registration most tests back up with. A
    /// relative `path` lands in the sandbox, where the command runs.
    @discardableResult
    func addRegistration(
        _ name: String, path: String = "b", schedule: String = "migration", _ options: String...,
        asUser user: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Result {
        let result = try run(
            ["registration", "add", name, "--provider", "filesystem", "--path", path, "--schedule", schedule] + options,
            asUser: user)
        #expect(result.status == 0, "registration add \(name): \(result.output)", sourceLocation: sourceLocation)
        return result
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var output: String { stdout + stderr }
    }

    @discardableResult
    func callAsFunction(_ arguments: String..., input: String? = nil, asUser user: String? = nil) throws -> Result {
        try run(arguments, input: input, asUser: user)
    }

    /// Runs the binary with its clock set by libfaketime (Debian's `faketime`): `@2026-01-01
    /// 00:00:00` starts the clock there and lets it run; without `@` the clock stands still.
    @discardableResult
    func at(_ time: String, _ arguments: String..., input: String? = nil) throws -> Result {
        try run(arguments, input: input, clock: time)
    }

    func run(
        _ arguments: [String], input: String? = nil, asUser user: String? = nil, clock: String? = nil
    ) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = configDirectory
        environment["DBBACKUP_STATE_DIR"] = stateDirectory
        environment["DBBACKUP_RUNTIME_DIR"] = runtimeDirectory  // never this host's /run/dbbackup
        var (executable, fullArguments) =
            user.map {
                (
                    "/usr/bin/setpriv",
                    ["--reuid=\($0)", "--regid=\($0 == "nobody" ? "nogroup" : $0)", "--clear-groups", Self.binary]
                        + arguments
                )
            }
            ?? (Self.binary, arguments)
        if let clock {
            (executable, fullArguments) = ("/usr/bin/faketime", ["-f", clock, executable] + fullArguments)
            // A clock set to run from a time (`@`) is a wall clock stepped, as NTP or `date -s`
            // step it: the boot clock runs on untouched. A frozen clock freezes them all.
            if clock.hasPrefix("@") { environment["FAKETIME_DONT_FAKE_MONOTONIC"] = "1" }
        }
        let result = try launch(executable, fullArguments, environment: environment, input: input)
        transcript += result.stdout + result.stderr
        return result
    }

    func launch(
        _ executable: String, _ arguments: [String], environment: [String: String], input: String?
    ) throws -> Result {
        // Run from the sandbox, as a sysadmin in that directory would: relative paths land there.
        let result = try Spawn.run(
            executable, arguments, environment: environment, input: input ?? "", workingDirectory: root)
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Another database (of `rows` rows) where the database was, as when an old copy is put back.
    func replaceDatabase(rows: Int) throws {
        try FileManager.default.removeItem(atPath: database)
        try? FileManager.default.removeItem(atPath: database + "-wal")
        try? FileManager.default.removeItem(atPath: database + "-shm")
        try makeDatabase(rows: rows)
    }

    func makeDatabase(rows: Int = 200, payloadSize: Int = 100, wal: Bool = true) throws {
        let db = try SQLiteConnection(path: database, mode: .readWriteCreate)
        try db.execute(
            """
            PRAGMA journal_mode=\(wal ? "WAL" : "DELETE"); CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); \
            PRAGMA user_version = 7
            """
        )
        try db.execute("BEGIN")
        let insert = try db.prepare("INSERT INTO t (v) VALUES (?)")
        for _ in 0..<rows { try insert.run([.text(String(repeating: "v", count: payloadSize))]) }
        try db.execute("COMMIT")
    }

    func json(_ arguments: String...) throws -> Any { try json(arguments) }

    func json(_ arguments: [String]) throws -> Any {
        let result = try run(arguments)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    func file(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }
}

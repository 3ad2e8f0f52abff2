import BackupCore
import Foundation
import TestKit
import Testing

extension CLI {
    /// Runs the binary as uid:gid (setpriv, no supplementary groups), as a service or another
    /// user would.
    func run(_ arguments: [String], uid: uid_t, gid: gid_t) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = configDirectory
        environment["DBBACKUP_STATE_DIR"] = stateDirectory
        environment["DBBACKUP_RUNTIME_DIR"] = runtimeDirectory
        return try launch(
            "/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", Self.binary] + arguments,
            environment: environment, input: nil)
    }

    /// Runs the binary through sh with stderr merged into stdout, so that the order in which a
    /// person sees the lines is kept.
    func merged(_ arguments: [String], input: String? = nil) throws -> [String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = configDirectory
        environment["DBBACKUP_STATE_DIR"] = stateDirectory
        environment["DBBACKUP_RUNTIME_DIR"] = runtimeDirectory
        let quoted = ([Self.binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            .joined(separator: " ")
        let result = try launch("/bin/sh", ["-c", "\(quoted) 2>&1"], environment: environment, input: input)
        return result.stdout.split(separator: "\n").map(String.init)
    }

    func owner(_ path: String) throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return
            """
            \(attributes[.ownerAccountID] as? Int ?? -1):\(attributes[.groupOwnerAccountID] as? Int ?? -1) \
            \(String(attributes[.posixPermissions] as? Int ?? -1, radix: 8))
            """
    }
}

@Suite("Command line: the services' identity, access checks, applying changes", .serialized)
struct IdentityTests {
    /// A WAL database owned by 4321:4322 mode 0640, nobody having it open (no -wal, no -shm), in a
    /// directory anyone may write, with a migration registration whose directory anyone may write.
    static func idleApplication() throws -> CLI {
        let cli = try CLI()
        _ = chmod(cli.root, 0o777)
        try cli.makeDatabase(wal: true)
        #expect(try cli("init", "--database", cli.database).status == 0)
        try cli.addRegistration("pre")
        _ = chmod("\(cli.root)/b", 0o777)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: cli.database + suffix) }
        _ = chown(cli.database, 4321, 4322)
        _ = chmod(cli.database, 0o640)
        // The state directory, as the services' StateDirectory= would hand it to their identity.
        try FileManager.default.createDirectory(atPath: cli.stateDirectory, withIntermediateDirectories: true)
        _ = chmod(cli.stateDirectory, 0o777)
        return cli
    }

    func sideFiles(_ cli: CLI) -> [String] {
        ["-wal", "-shm"].filter { FileManager.default.fileExists(atPath: cli.database + $0) }
    }

    @Test(
        """
        a run as another user than the database's owner creates nothing beside it, and fails with status 77 \
        naming the owner
        """
    )
    func wrongUserRefused() throws {
        let cli = try Self.idleApplication()
        _ = chmod(cli.database, 0o644)  // readable by anyone: only the side files are at stake
        let run = try cli.run(["run", "pre"], uid: 65534, gid: 65534)
        #expect(run.status == ExitStatus.permission.code, "\(run.output)")
        #expect(run.stderr.contains("creates app.db-wal and app.db-shm beside it"), "\(run.stderr)")
        #expect(run.stderr.contains("not to the database's owner uid 4321"), "\(run.stderr)")
        #expect(run.stderr.contains("dbbackup apply"))
        #expect(sideFiles(cli).isEmpty, "nothing created beside the database")

        // As the owner, with the database's group: it works, and the files are the application's.
        // (The state directory goes to the identity, as StateDirectory= does it for the services.)
        #expect(try Spawn.run("/bin/chown", ["-R", "4321:4322", cli.stateDirectory]).status == 0)
        let owner = try cli.run(["run", "pre"], uid: 4321, gid: 4322)
        #expect(owner.status == 0, "\(owner.output)")
        for suffix in sideFiles(cli) { #expect(try cli.owner(cli.database + suffix) == "4321:4322 644", "\(suffix)") }
        #expect(sideFiles(cli).count == 2)
    }

    @Test("root (with CAP_CHOWN) may run it: SQLite hands the side files to the database's owner")
    func rootRun() throws {
        let cli = try Self.idleApplication()
        let run = try cli("run", "pre")
        #expect(run.status == 0, "\(run.output)")
        #expect(sideFiles(cli).count == 2)
        for suffix in sideFiles(cli) { #expect(try cli.owner(cli.database + suffix) == "4321:4322 640", "\(suffix)") }
    }

    @Test("permission denied is never reported as does not exist: run, config check, init")
    func permissionIsNotMissing() throws {
        let cli = try CLI()
        _ = chmod(cli.root, 0o777)
        let hidden = "\(cli.root)/private"
        try FileManager.default.createDirectory(
            atPath: hidden, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = "\(hidden)/app.db"
        _ = try SQLiteConnection(path: database, mode: .readWriteCreate).execute("CREATE TABLE t(x)")
        #expect(try cli("init", "--database", database).status == 0)
        try cli.addRegistration("pre")
        _ = chmod("\(cli.root)/b", 0o777)
        try FileManager.default.createDirectory(
            atPath: cli.stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])

        let run = try cli.run(["run", "pre"], uid: 65534, gid: 65534)
        #expect(run.status == ExitStatus.permission.code, "\(run.output)")
        #expect(
            run.stderr.contains("cannot be reached by") && run.stderr.contains("Permission denied"), "\(run.stderr)")
        #expect(run.stderr.contains("\(hidden) (owner root"), "names the directory in the way: \(run.stderr)")
        #expect(!run.output.contains("does not exist"))

        let check = try cli.run(["config", "check"], uid: 65534, gid: 65534)
        #expect(check.status == ExitStatus.configuration.code)
        #expect(check.stdout.contains("database.path") && check.stdout.contains("Permission denied"), "\(check.stdout)")
        #expect(!check.output.contains("does not exist"), "\(check.output)")

        let initialized = try cli.run(
            ["init", "--config-dir", "\(cli.root)/other", "--database", database], uid: 65534, gid: 65534)
        #expect(!initialized.output.contains("does not exist"), "\(initialized.output)")
    }

    @Test(
        """
        registration test as root creates a missing directory for the services' identity and probes it as that \
        identity, never as root
        """
    )
    func registrationTestAsIdentity() throws {
        let cli = try Self.idleApplication()
        try cli.addRegistration("nightly", path: "\(cli.root)/later/nightly", schedule: "daily", "--time", "02:00")
        // add created it for the identity already; a sysadmin removes it, the test recreates it.
        #expect(try cli.owner("\(cli.root)/later/nightly") == "4321:4322 750")
        try FileManager.default.removeItem(atPath: "\(cli.root)/later/nightly")
        let test = try cli("registration", "test", "nightly")
        #expect(test.status == 0, "\(test.output)")
        #expect(try cli.owner("\(cli.root)/later/nightly") == "4321:4322 750", "never root:root")
        #expect(
            test.stdout.contains("ok   created \(cli.root)/later/nightly (owner uid 4321, mode 0750)"), "\(test.stdout)"
        )
        #expect(test.stdout.contains("uid 4321 created and removed a file in it"), "\(test.stdout)")
        #expect(test.stdout.contains("access checked as uid 4321"), "\(test.stdout)")
        #expect(sideFiles(cli).isEmpty, "the check never creates the database's side files")

        // A directory the identity cannot write fails, though root could.
        let locked = "\(cli.root)/locked"
        try FileManager.default.createDirectory(
            atPath: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(try cli("registration", "edit", "nightly", "--path", locked).status == 0)
        let refused = try cli("registration", "test", "nightly")
        #expect(refused.status == ExitStatus.store.code, "\(refused.output)")
        #expect(
            refused.stdout.contains("FAIL write and remove a file: \(locked) is not writable by uid 4321"),
            "\(refused.stdout)")
    }

    @Test(
        """
        config check as root checks as the services' identity: a directory only root can write is an error, a \
        readable database is fine
        """
    )
    func configCheckAsIdentity() throws {
        let cli = try Self.idleApplication()
        #expect(try cli("config", "check").status == 0)
        let locked = "\(cli.root)/locked"
        try FileManager.default.createDirectory(
            atPath: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(try cli("registration", "edit", "pre", "--path", locked).status == 0)
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code, "\(check.output)")
        #expect(
            check.stdout.contains(
                "error: registrations.d/pre.toml: path = \"\(locked)\": \(locked) is not writable by uid 4321"),
            "\(check.stdout)")
        #expect(check.stdout.contains("access checked as uid 4321"), "\(check.stdout)")
        #expect(sideFiles(cli).isEmpty, "the check never creates the database's side files")

        // The identity cannot reach the database at all (root could).
        #expect(try cli("registration", "edit", "pre", "--path", "b").status == 0)
        let hidden = "\(cli.root)/private"
        try FileManager.default.createDirectory(
            atPath: hidden, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.moveItem(atPath: cli.database, toPath: "\(hidden)/app.db")
        #expect(try cli("init", "--database", "\(hidden)/app.db").status == 0)
        let unreachable = try cli("config", "check")
        #expect(unreachable.status == ExitStatus.configuration.code)
        #expect(
            unreachable.stdout.contains("error: dbbackup.toml: database.path")
                && unreachable.stdout.contains("cannot be reached by uid 4321 (Permission denied)"),
            "\(unreachable.stdout)")
    }

    @Test("every command that changes the configuration says in its last line what to run")
    func lastLineSaysWhatToRun() throws {
        let cli = try CLI()
        try cli.makeDatabase()
        let apply = "where it runs, make the change take effect with: dbbackup apply"
        let commands: [[String]] = [
            ["init", "--database", cli.database],
            ["registration", "add", "pre", "--provider", "filesystem", "--path", "b", "--schedule", "migration"],
            ["registration", "edit", "pre", "--path", "c"],
            ["retention", "set", "--local", "3"],
            ["config", "import", "\(cli.root)/export.toml"],
            ["registration", "remove", "pre"],
        ]
        for command in commands {
            if command[1] == "import" {
                try cli("config", "export").stdout.write(
                    toFile: "\(cli.root)/export.toml", atomically: true, encoding: .utf8)
            }
            let lines = try cli.merged(command)
            #expect(lines.last?.hasSuffix(apply) == true, "\(command.joined(separator: " ")): \(lines)")
        }
    }

    @Test(
        """
        missing backup directories: a file in the way and a read-only file system are errors; otherwise the \
        service creates it
        """
    )
    func missingDirectories() throws {
        let cli = try CLI.initialized()
        try cli(
            "registration", "add", "pre", "--provider", "filesystem", "--path", "\(cli.root)/a/b", "--schedule",
            "migration")
        try FileManager.default.removeItem(atPath: "\(cli.root)/a/b")
        let check = try cli("config", "check")
        #expect(check.status == 0)
        #expect(
            check.stdout.contains(
                "\(cli.root)/a/b does not exist yet; the service creates it owned by root (uid 0) before its "
                    + "first run"),
            "\(check.stdout)")
        // On a read-only file system (a tmpfs remounted read-only, in a mount namespace of its own).
        let script = """
            set -e
            mount -t tmpfs tmpfs '\(cli.root)/a'
            mount -o remount,ro '\(cli.root)/a'
            '\(CLI.binary)' config check --config-dir '\(cli.configDirectory)' --state-dir '\(cli.stateDirectory)'
            """
        let readOnly = try cli.launch(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], environment: [:],
            input: nil)
        #expect(readOnly.status == ExitStatus.configuration.code, "\(readOnly.output)")
        #expect(
            readOnly.stdout.contains("cannot be created: the file system at \(cli.root)/a is mounted read-only"),
            "\(readOnly.stdout)")
    }
}

import BackupCore
import Foundation
import SystemCalls
import TestKit
import Testing

/// Kills the real executor (SIGKILL) at every named point of a run and at random moments,
/// and checks after each crash that nothing partial carries a final name and every stored
/// registry row matches a file, and that the next run succeeds and cleans up.
@Suite("Crash safety", .serialized)
struct CrashTests {
    let cli: CLI
    let backups: String

    init() throws {
        cli = try CLI()
        try cli.makeDatabase(rows: 20_000, payloadSize: 400)  // ~10 MB: a snapshot takes a few ms
        try cli("init", "--database", cli.database)
        try cli("retention", "set", "--local", "3")
        backups = "\(cli.root)/backups"
        try cli("registration", "add", "pre", "--provider", "filesystem", "--path", backups, "--schedule", "migration")
    }

    /// Starts `dbbackup run pre`, optionally armed to crash at a point.
    func start(crashAt point: String? = nil) throws -> Spawn.Child {
        var environment = ProcessInfo.processInfo.environment
        if let point { environment["DBBACKUP_TEST_CRASH_AT"] = point }
        return try Spawn.start(
            CLI.binary, ["run", "pre", "--config-dir", cli.configDirectory, "--state-dir", cli.stateDirectory],
            environment: environment)
    }

    /// What must hold at any moment, even right after a crash.
    func checkAfterCrash(_ context: String) throws {
        let registry = try BackupRegistry(path: "\(cli.stateDirectory)/registry.db")
        for record in try registry.storedBackups() {
            guard case .file(let path)? = record.location else { continue }
            #expect(FileManager.default.fileExists(atPath: path), "\(context): stored backup \(record.id) has no file")
            #expect(
                try FileSystem.sha256(of: path).sha256 == record.sha256,
                "\(context): backup \(record.id) does not match its SHA-256")
        }
        for name in finalNames() {
            let check = Result {
                try SQLiteConnection(path: "\(backups)/\(name)", mode: .readOnly).scalar("PRAGMA quick_check")
            }
            #expect(
                (try? check.get()) == "ok",
                "\(context): \(name) under a final name is not a complete database: \(check)")
        }
    }

    /// What must hold once a run has succeeded after the crash.
    func checkSettled(_ context: String) throws {
        try checkAfterCrash(context)
        let registry = try BackupRegistry(path: "\(cli.stateDirectory)/registry.db")
        #expect(try registry.backups(in: .pending).isEmpty, "\(context): a pending record was not settled")
        #expect(try registry.backups(in: .pruning).isEmpty, "\(context): an interrupted deletion was not finished")
        let stored = try registry.storedBackups().compactMap { record -> String? in
            if case .file(let path)? = record.location { return FileSystem.name(of: path) } else { return nil }
        }
        #expect(stored.count == 3, "\(context): retention keeps 3, found \(stored.count)")
        #expect(Set(finalNames()) == Set(stored), "\(context): files and registry differ: \(finalNames()) vs \(stored)")
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: backups)) ?? []).filter {
            $0.hasPrefix(".dbbackup-staging")
        }
        #expect(leftovers.isEmpty, "\(context): staging files left: \(leftovers)")
    }

    func finalNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: backups)) ?? []).filter {
            $0.hasPrefix("db_v") && $0.hasSuffix(".db")
        }.sorted()
    }

    func runToSuccess(_ context: String) throws {
        let result = try start().wait()
        #expect(result.status == 0, "\(context): the run after the crash failed: \(result.stderr)")
    }

    @Test("SIGKILL at each named point of a run, three times each, then at 40 random moments")
    func crashes() throws {
        for _ in 0..<3 { try runToSuccess("warm-up") }  // retention is pruning from now on
        var crashes = 0
        // A directory run never reaches the points of an S3 upload that goes on during the copy.
        for point in CrashPoint.allCases where !CrashPoint.overlappedUpload.contains(point) {
            for round in 1...3 {
                let result = try start(crashAt: point.rawValue).wait()
                #expect(
                    result.signal == SIGKILL,
                    "\(point.rawValue): the run was not killed there (status \(result.status))")
                crashes += 1
                try checkAfterCrash("\(point.rawValue) #\(round)")
                try runToSuccess("after \(point.rawValue) #\(round)")
                try checkSettled("after \(point.rawValue) #\(round)")
            }
        }
        let seed =
            UInt64(ProcessInfo.processInfo.environment["DBBACKUP_CRASH_SEED"] ?? "")
            ?? UInt64.random(in: 1...UInt64.max)
        var generator = SplitMix64(seed: seed)
        for round in 1...40 {
            let delay = useconds_t(Int.random(in: 0...60_000, using: &generator))
            let child = try start()
            usleep(delay)
            child.kill()
            _ = child.wait()
            crashes += 1
            try checkAfterCrash("random #\(round) after \(delay) µs (seed \(seed))")
            try runToSuccess("random #\(round) (seed \(seed))")
            try checkSettled("random #\(round) after \(delay) µs (seed \(seed))")
        }
        #expect(crashes == (CrashPoint.allCases.count - CrashPoint.overlappedUpload.count) * 3 + 40)
        print("crash safety: \(crashes) kills, seed \(seed) (replay with DBBACKUP_CRASH_SEED=\(seed))")
    }
}

/// A backup directory on a small tmpfs: the disk fills during the snapshot.
@Suite("Disk full", .serialized)
struct DiskFullTests {
    /// Creates `path` and mounts a tmpfs there (root only); the caller unmounts it.
    static func mountTmpfs(at path: String, options: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = try Spawn.run("mount", ["-t", "tmpfs", "-o", options, "tmpfs", path])
        try #require(mount.status == 0, "mounting a tmpfs needs root: \(mount.stderr)")
    }

    @Test("a full backup directory: clear failure, no partial file, staging removed, registry unchanged")
    func fullBackupDirectory() throws {
        let cli = try CLI.initialized(rows: 20_000, payloadSize: 1000)  // ~20 MB, the tmpfs holds 8
        let small = "\(cli.root)/small"
        try Self.mountTmpfs(at: small, options: "size=8m")
        defer { _ = try? Spawn.run("umount", [small]) }
        try cli("registration", "add", "full", "--provider", "filesystem", "--path", small, "--schedule", "migration")
        try cli(
            "registration", "add", "fine", "--provider", "filesystem", "--path", "\(cli.root)/fine", "--schedule",
            "migration")
        #expect(try cli("run", "fine").status == 0)
        let before = try cli.json("list", "--json") as! [[String: Any]]

        let run = try cli("run", "full")
        #expect(run.status == ExitStatus.store.code, "\(run.output)")
        #expect(run.stderr.contains("no space left"), "\(run.stderr)")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: small).isEmpty,
            "nothing, not even a staging file, is left")
        let after = try cli.json("list", "--json") as! [[String: Any]]
        #expect(after.count == before.count)
        let status = try cli.json("status", "--json") as! [[String: Any]]
        let full = status.first { $0["name"] as? String == "full" }
        #expect(((full?["last_failure"] as? [String: Any])?["error"] as? String)?.contains("no space") == true)
    }

    @Test("a backup directory on a read-only file system: config check and the run say so")
    func readOnlyBackupDirectory() throws {
        let cli = try CLI.initialized()
        let frozen = "\(cli.root)/frozen"
        try Self.mountTmpfs(at: frozen, options: "ro,size=1m")
        defer { _ = try? Spawn.run("umount", [frozen]) }
        try cli("registration", "add", "ro", "--provider", "filesystem", "--path", frozen, "--schedule", "migration")
        let check = try cli("config", "check")
        #expect(check.status == ExitStatus.configuration.code)
        #expect(check.stdout.contains("\(frozen) is on a read-only file system"), "\(check.output)")
        let run = try cli("run", "ro")
        #expect(run.status == ExitStatus.store.code)
        #expect(run.stderr.contains("\(frozen) is on a read-only file system"), "\(run.stderr)")
    }

    @Test("a full state directory: the registry's failure names the full file system, not an SQLite code")
    func fullStateDirectory() throws {
        let cli = try CLI.initialized()
        try Self.mountTmpfs(at: cli.stateDirectory, options: "size=2m")
        defer { _ = try? Spawn.run("umount", [cli.stateDirectory]) }
        try cli(
            "registration", "add", "pre", "--provider", "filesystem", "--path", "\(cli.root)/b", "--schedule",
            "migration")
        #expect(try cli("run", "pre").status == 0)
        // Something else fills the file system of /var/lib.
        _ = try? Data(repeating: 0, count: 4 << 20).write(to: URL(fileURLWithPath: "\(cli.stateDirectory)/filler"))
        let run = try cli("run", "pre")
        #expect(run.status != 0, "\(run.output)")
        #expect(run.stderr.contains("the file system of \(cli.stateDirectory) is full"), "\(run.stderr)")
    }

    @Test("a full staging area (S3 snapshots are staged in the state directory): clear failure, nothing left")
    func fullStagingArea() throws {
        let cli = try CLI.initialized(rows: 20_000, payloadSize: 1000)
        let staging = "\(cli.stateDirectory)/staging"
        try Self.mountTmpfs(at: staging, options: "size=8m")
        defer { _ = try? Spawn.run("umount", [staging]) }
        // The store is never reached: the snapshot fills the staging area first.
        try cli(
            "registration", "add", "cloud", "--provider", "s3", "--bucket", "app-backups", "--endpoint",
            "http://127.0.0.1:9",
            "--force-path-style", "--access-key", "AK", "--secret-key-stdin", "--schedule", "migration",
            input: "secret-key-1234\n")
        let run = try cli("run", "cloud")
        #expect(run.status == ExitStatus.store.code, "\(run.output)")
        #expect(run.stderr.contains("no space left"), "\(run.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: staging).isEmpty)
        #expect((try cli.json("list", "--json") as! [Any]).isEmpty)
    }
}

/// A backup directory on vfat (a USB disk, an EFI-style partition), which has no hard links.
/// The image is made by dosfstools' mkfs.vfat and mounted with fusefat (a FUSE driver for
/// vfat), since the kernel of these test machines has no vfat module; fusefat has neither
/// hard links nor RENAME_NOREPLACE, so the exclusive-create path is the one exercised.
@Suite("File systems without hard links", .serialized)
struct NoHardLinksTests {
    @Test("a vfat backup directory: backups are placed without replacing one another, also in the same second")
    func vfat() throws {
        let cli = try CLI.initialized()
        let image = "\(cli.root)/vfat.img"
        let mountPoint = "\(cli.root)/usb"
        #expect(try Spawn.run("truncate", ["-s", "32M", image]).status == 0)
        let mkfs = try Spawn.run("/usr/sbin/mkfs.vfat", [image])
        try #require(mkfs.status == 0, "mkfs.vfat (dosfstools): \(mkfs.stderr)")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try Spawn.run("/usr/bin/fusefat", ["-o", "rw+", image, mountPoint])
        try #require(mount.status == 0, "mounting a vfat image with fusefat needs /dev/fuse: \(mount.stderr)")
        defer { _ = try? Spawn.run("umount", [mountPoint]) }

        try cli("retention", "set", "--local", "15")
        try cli(
            "registration", "add", "usb", "--provider", "filesystem", "--path", mountPoint, "--schedule", "migration")
        for _ in 1...3 {
            let run = try cli.run(["run", "usb"], clock: "2026-06-01 12:00:00")
            #expect(run.status == 0, "\(run.output)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: mountPoint).sorted()
        // vfat keeps names case-insensitively and may show them in lower case: compare so.
        #expect(
            names.map { $0.lowercased() } == [
                "db_v7_20260601t120000z.db", "db_v7_20260601t120000z_002.db", "db_v7_20260601t120000z_003.db",
            ],
            "\(names)")
        for backup in try cli.json("list", "--json") as! [[String: Any]] {
            #expect(backup["sha256"] as? String == (try FileSystem.sha256(of: backup["location"] as! String).sha256))
        }
    }
}

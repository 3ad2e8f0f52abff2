import BackupCore
import Foundation
import Hashing
import S3Client
import SystemCalls
import TestKit
import Testing

/// The product against real S3 servers: `dbbackup` runs with the agent's least-privilege key
/// (s3:PutObject and s3:DeleteObject only), remote retention deletes through the registry,
/// restore reads with the admin's key, and failures are clear and leave nothing behind.
struct Product {
    let root: URL
    let server: S3TestServer
    let prefix: String
    var configDirectory: String { root.appendingPathComponent("etc").path }
    var stateDirectory: String { root.appendingPathComponent("state").path }
    var database: String { root.appendingPathComponent("app.db").path }

    /// The binary under test: DBBACKUP_BIN (e.g. an older build, to see a new test fail on
    /// it), else the one built beside the tests.
    static let binary =
        ProcessInfo.processInfo.environment["DBBACKUP_BIN"]
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("dbbackup").path

    /// Set for every command (e.g. DBBACKUP_TEST_IMDS_ENDPOINT, http_proxy).
    var environment: [String: String] = [:]

    /// A database of about `megabytes`, the main configuration, and an s3 registration `cloud`
    /// with the agent's key, or `credentials` (e.g. `--credentials instance`) instead, and
    /// `options` besides.
    init(
        server: S3TestServer, megabytes: Int = 2, endpoint: String? = nil, s3Settings: String = "",
        credentials: [String]? = nil, options: [String] = [], bucket: String? = nil, environment: [String: String] = [:]
    ) throws {
        self.server = server
        self.environment = environment
        root = try TestSupport.makeTemporaryDirectory()
        // Written without the trailing '/': the prefix is a folder all the same.
        prefix = "runs/\(UUID().uuidString.prefix(8))"
        let db = try SQLiteConnection(path: root.appendingPathComponent("app.db").path, mode: .readWriteCreate)
        try db.execute(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB); PRAGMA user_version = 5")
        try db.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(megabytes * 1000)) INSERT \
            INTO t (v) SELECT randomblob(1000) FROM n
            """
        )
        try expectOK(dbbackup("init", "--database", database))
        let main = configDirectory + "/dbbackup.toml"
        let quick =
            "[s3]\nmax_attempts = 4\nretry_seconds = 30\nconnect_timeout = 3\nstall_seconds = 5\n\(s3Settings)\n"
        try (try String(contentsOfFile: main, encoding: .utf8) + "\n" + quick).write(
            toFile: main, atomically: true, encoding: .utf8)
        try expectOK(dbbackup("retention", "set", "--remote", "2"))
        let keys = ["--access-key", server.values["S3_AGENT_ACCESS_KEY"] ?? "", "--secret-key-stdin"]
        try expectOK(
            dbbackup(
                [
                    "registration", "add", "cloud", "--provider", "s3", "--bucket", bucket ?? server.bucket,
                    "--endpoint", endpoint ?? server.endpoint, "--region", server.region, "--force-path-style",
                    "--prefix", prefix,
                ] + (credentials ?? keys) + options + ["--schedule", "daily", "--time", "02:00"],
                input: credentials == nil ? (server.values["S3_AGENT_SECRET_KEY"] ?? "") + "\n" : ""))
    }

    @discardableResult
    func dbbackup(_ arguments: String..., input: String = "") throws -> Spawn.Result {
        try dbbackup(arguments, input: input)
    }

    func dbbackup(_ arguments: [String], input: String = "") throws -> Spawn.Result {
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = configDirectory
        environment["DBBACKUP_STATE_DIR"] = stateDirectory
        environment.merge(self.environment) { $1 }
        return try Spawn.run(Self.binary, arguments, environment: environment, input: input)
    }

    func expectOK(_ result: Spawn.Result, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 0, "\(result.output)", sourceLocation: sourceLocation)
    }

    func storedBackups() throws -> [BackupRecord] {
        try BackupRegistry(path: stateDirectory + "/registry.db").storedBackups()
    }

    func key(_ record: BackupRecord) -> String? {
        if case .object(let object)? = record.location { object.key } else { nil }
    }

    /// The admin reads the object back; returns its SHA-256, or the error's S3 code.
    func adminRead(_ key: String, bucket: String? = nil) -> Result<String, S3Error> {
        do {
            let client = try server.client(.admin, bucket: bucket)
            return .success(
                try client.getObject(key: key, toFile: root.appendingPathComponent("check-\(UUID().uuidString)").path)
                    .sha256)
        } catch let error as S3Error {
            return .failure(error)
        } catch {
            return .failure(
                S3Error(kind: .localFile, operation: "GET", bucket: server.bucket, key: key, message: "\(error)"))
        }
    }

    var stagingLeftovers: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/staging")) ?? []
    }

    func cleanUp() { try? FileManager.default.removeItem(at: root) }
}

enum ProductScenarios {
    /// Three runs with the agent's key, remote retention 2, then restore with the admin's key.
    static func leastPrivilegeRoundTrip(_ server: S3TestServer) throws {
        let product = try Product(server: server)
        defer { product.cleanUp() }
        var first: BackupRecord?
        for round in 1...3 {
            let run = try product.dbbackup("run", "cloud")
            #expect(run.status == 0, "run \(round): \(run.output)")
            if round == 1 { first = try product.storedBackups().first }
        }
        let stored = try product.storedBackups()
        #expect(stored.count == 2, "remote retention keeps 2")
        for record in stored {
            let key = try #require(product.key(record))
            #expect(key.hasPrefix(product.prefix + "/db_v5_"))
            #expect(try product.adminRead(key).get() == record.sha256, "the store holds exactly the recorded bytes")
        }
        let pruned = try #require(first.flatMap(product.key))
        if case .failure(let error) = product.adminRead(pruned) {
            #expect(error.code == .noSuchKey, "\(error)")
        } else {
            Issue.record("retention did not delete \(pruned)")
        }
        #expect(product.stagingLeftovers.isEmpty)

        // The agent may not read: restore says which permission it needs.
        let denied = try product.dbbackup(
            "restore", "latest", "--to", product.root.appendingPathComponent("denied.db").path)
        #expect(denied.status != 0)
        #expect(denied.stderr.contains("s3:GetObject"), "\(denied.stderr)")
        // The admin may: the restored file is the recorded backup, byte for byte.
        let target = product.root.appendingPathComponent("restored.db").path
        let restore = try product.dbbackup(
            "restore", "latest", "--to", target, "--access-key", server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
            "--secret-key-stdin", input: (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try FileSystem.sha256(of: target).sha256 == stored.last?.sha256)
        let check = try SQLiteConnection(path: target, mode: .readOnly)
        #expect(try check.scalar("SELECT count(*) FROM t") == "2000")

        let probe = try product.dbbackup("registration", "test", "cloud")
        #expect(probe.status == 0, "\(probe.output)")
        #expect(probe.stdout.contains("ok   PUT") && probe.stdout.contains("ok   DELETE"))
    }
}

@Suite("dbbackup with S3: moto", .serialized)
struct BackupRunMotoTests {
    var server: S3TestServer { get throws { try TestServers.moto.get() } }

    @Test("least privilege: runs, remote retention and restore with the admin key")
    func roundTrip() throws { try ProductScenarios.leastPrivilegeRoundTrip(try server) }

    @Test("a database above the multipart threshold goes up in parts and comes back whole")
    func multipart() throws {
        let product = try Product(
            server: try server, megabytes: 12, s3Settings: "multipart_threshold_mib = 5\npart_size_mib = 5")
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        let record = try #require(try product.storedBackups().first)
        #expect((record.size ?? 0) > 10 * 1024 * 1024)
        #expect(try product.adminRead(try #require(product.key(record))).get() == record.sha256)
    }

    @Test(
        """
        wrong secret, missing bucket, unreachable endpoint: clear errors naming the registration, nothing \
        recorded or left
        """
    )
    func failures() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        let wrongSecret = "wrong-secret-0123456789abcdef"
        try product.expectOK(
            product.dbbackup("registration", "edit", "cloud", "--secret-key-stdin", input: wrongSecret + "\n"))
        var run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.store.code)
        #expect(
            run.stderr.contains("registration cloud") && run.stderr.contains("SignatureDoesNotMatch"), "\(run.stderr)")
        #expect(!run.output.contains(wrongSecret) && !run.output.contains(server.values["S3_AGENT_SECRET_KEY"] ?? "-"))

        // With the agent's key the policy denies first (AccessDenied), as on AWS; a key allowed
        // everywhere meets the missing bucket.
        try product.expectOK(
            product.dbbackup(
                "registration", "edit", "cloud", "--bucket", "no-such-bucket-dbbackup",
                "--access-key", server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
                "--secret-key-stdin", input: (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n"))
        run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.store.code)
        #expect(run.stderr.contains("NoSuchBucket"), "\(run.stderr)")

        try product.expectOK(
            product.dbbackup(
                "registration", "edit", "cloud", "--bucket", server.bucket,
                "--endpoint", "http://127.0.0.1:\(try closedLocalPort())"))
        run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.store.code)
        #expect(run.stderr.contains("cannot reach"), "\(run.stderr)")

        #expect(try product.storedBackups().isEmpty)
        #expect(product.stagingLeftovers.isEmpty)
        let probe = try product.dbbackup("registration", "test", "cloud")
        #expect(probe.status == ExitStatus.store.code && probe.stdout.contains("FAIL PUT"))
    }

    @Test(
        """
        an upload that never reached the store (an endpoint typo) leaves no key to delete: once the endpoint is \
        fixed, the next run exits 0
        """
    )
    func unreachableEndpointLeavesNothing() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        try product.expectOK(
            product.dbbackup("registration", "edit", "cloud", "--endpoint", "http://127.0.0.1:\(try closedLocalPort())")
        )
        #expect(try product.dbbackup("run", "cloud").status == ExitStatus.store.code)
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        #expect(try registry.leftovers(of: "cloud").isEmpty, "no request reached a store: nothing can be there")
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--endpoint", server.endpoint))
        try product.expectOK(product.dbbackup("run", "cloud"))
        #expect(try product.dbbackup("status", "--check").status == 0)
    }

    @Test(
        """
        a failed upload's key that cannot be deleted where it was sent is a WARNING naming registry forget, \
        which ends it
        """
    )
    func undeletableLeftover() throws {
        let server = try server
        // The store takes the PUT and answers 500, then fails everything sent through this way.
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "store-then-500,500*")
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        #expect(try product.dbbackup("run", "cloud").status == ExitStatus.store.code)
        // Moved to another endpoint: the failed run's key is still deleted where it was sent.
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--endpoint", server.endpoint))
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.cleanup.code, "the old way still fails: \(run.output)")
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        let leftover = try #require(try registry.leftovers(of: "cloud").first)
        #expect(run.stderr.contains("dbbackup registry forget \(leftover.id)"), "\(run.stderr)")
        let check = try product.dbbackup("status", "--check")
        #expect(check.status == 1, "\(check.output)")
        #expect(check.stdout.contains("dbbackup registry forget \(leftover.id)"), "\(check.output)")

        try product.expectOK(product.dbbackup("registry", "forget", String(leftover.id)))
        try product.expectOK(product.dbbackup("run", "cloud"))
        #expect(try product.dbbackup("status", "--check").status == 0)
        #expect(try registry.backup(id: leftover.id)?.state == .failed, "a forgotten failure is no success")
    }

    @Test("transient faults are retried; the backup is recorded once and intact")
    func transientFaults() throws {
        let server = try server
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "503,reset,500,store-then-500")
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        let stored = try product.storedBackups()
        #expect(stored.count == 1, "no duplicate registry entry")
        #expect(try product.adminRead(try #require(stored.first.flatMap(product.key))).get() == stored.first?.sha256)
        #expect(proxy.requests.count >= 5, "\(proxy.requests)")
    }

    @Test(
        """
        persistent failure: the run fails clearly, nothing is recorded, the staging file is gone, the store holds \
        nothing
        """
    )
    func persistentFailure() throws {
        let server = try server
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "store-then-500*")
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.store.code)
        #expect(run.stderr.contains("500") && run.stderr.contains("registration cloud"), "\(run.stderr)")
        #expect(try product.storedBackups().isEmpty)
        #expect(product.stagingLeftovers.isEmpty)
        // Every PUT was stored before its 500; the failed run deleted what it had sent.
        let puts = proxy.requests.filter { $0.contains(" PUT ") }
        let key = try #require(puts.first?.split(separator: " ")[2]).split(separator: "/").dropFirst(2).joined(
            separator: "/")
        if case .success = product.adminRead(String(key)) { Issue.record("the failed upload left \(key) in the store") }
        let status = try product.dbbackup("status", "--json")
        #expect(status.stdout.contains("last_failure") && status.stdout.contains("500"))
    }

    @Test("a stalled store fails within the stall timeout")
    func stall() throws {
        let server = try server
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "stall*")
        let product = try Product(server: server, endpoint: proxy.endpoint, s3Settings: "")
        defer { product.cleanUp() }
        let main = product.configDirectory + "/dbbackup.toml"
        try
            (try String(contentsOfFile: main, encoding: .utf8).replacingOccurrences(
                of: "max_attempts = 4", with: "max_attempts = 1"))
            .write(toFile: main, atomically: true, encoding: .utf8)
        let started = Date()
        let run = try product.dbbackup("run", "cloud")
        let elapsed = Date().timeIntervalSince(started)
        #expect(run.status == ExitStatus.store.code)
        #expect(elapsed < 20, "stalled for \(elapsed) s")
        #expect(try product.storedBackups().isEmpty)
    }

    @Test(
        "a delete that fails keeps its registry row, shows in list as pruning, exits 74, and is retried by the next run"
    )
    func failedDeleteIsRetried() throws {
        let server = try server
        // Two uploads pass; in the third run the upload passes and every attempt of the
        // retention delete (max_attempts 4) fails; then the store works again.
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "pass,pass,pass,500,500,500,500,pass*")
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        for _ in 1...2 { try product.expectOK(product.dbbackup("run", "cloud")) }
        let oldest = try #require(try product.storedBackups().first)
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.cleanup.code, "\(run.output)")
        #expect(run.stderr.contains("retried on the next run"))
        // The backup it did store is reported as any other, and the failure once.
        let stored = try #require(try product.storedBackups().last)
        #expect(run.stdout.contains("cloud: stored \(stored.location?.description ?? "?")"), "\(run.stdout)")
        #expect(run.stderr.components(separatedBy: "could not delete").count == 2, "\(run.stderr)")
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        #expect(try registry.backup(id: oldest.id)?.state == .pruning, "the row stays until the object is gone")
        #expect(try product.adminRead(try #require(product.key(oldest))).get() == oldest.sha256)
        let listed = try product.dbbackup("list", "--json")
        #expect(
            listed.stdout.contains("\"state\" : \"pruning\""),
            "list shows the backup that still exists: \(listed.stdout)")

        try product.expectOK(product.dbbackup("run", "cloud"))
        #expect(try registry.backup(id: oldest.id)?.state == .pruned)
        #expect(try product.storedBackups().count == 2)
        if case .success = product.adminRead(try #require(product.key(oldest))) {
            Issue.record("the retried delete did not happen")
        }
    }
}

@Suite("dbbackup with S3: Ceph radosgw", .serialized, .enabled(if: TestServers.radosgwExpected))
struct BackupRunRadosgwTests {
    @Test("least privilege by bucket policy: runs, remote retention and restore with the admin key")
    func roundTrip() throws { try ProductScenarios.leastPrivilegeRoundTrip(try TestServers.radosgw.get()) }
}

@Suite("dbbackup with S3: soak under faults", .serialized)
struct SoakTests {
    @Test(
        """
        200 runs with 10 % of requests failing (500, 503, resets, store-then-500): each run stored-and-recorded \
        or failed-and-clean; retention exact
        """
    )
    func soak() throws {
        let server = try TestServers.moto.get()
        let seed =
            UInt64(ProcessInfo.processInfo.environment["DBBACKUP_SOAK_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let faults = ["500", "503", "reset", "reset-body", "store-then-500"]
        let plan = (0..<3000).map { _ in
            Int.random(in: 0..<10, using: &rng) == 0 ? faults.randomElement(using: &rng)! : "pass"
        }
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: plan.joined(separator: ","))
        let product = try Product(server: server, megabytes: 1, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("retention", "set", "--remote", "3"))
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        var stored = 0
        var failed = 0
        for round in 1...200 {
            let before = try registry.storedBackups().map(\.id)
            let run = try product.dbbackup("run", "cloud")
            let after = try registry.storedBackups()
            #expect(product.stagingLeftovers.isEmpty, "seed \(seed) run \(round): staging left")
            #expect(try registry.backups(in: .pending).isEmpty, "seed \(seed) run \(round): a pending record")
            switch run.status {
            case ExitStatus.ok.code, ExitStatus.cleanup.code:  // stored (cleanup: a delete failed and will be retried)
                stored += 1
                let new = try #require(after.last, "seed \(seed) run \(round)")
                #expect(!before.contains(new.id), "seed \(seed) run \(round): nothing new recorded")
                #expect(
                    try product.adminRead(try #require(product.key(new))).get() == new.sha256,
                    "seed \(seed) run \(round)")
            default:
                failed += 1
                #expect(run.status == ExitStatus.store.code, "seed \(seed) run \(round): \(run.stderr)")
                #expect(after.map(\.id) == before, "seed \(seed) run \(round): a failed run changed what is stored")
            }
            #expect(
                after.count <= 3 + (try registry.backups(in: .pruning).count), "seed \(seed) run \(round): retention")
        }
        // Later runs settle any delete the faults interrupted: deletes go where each backup was
        // stored (through the proxy), so a few more runs may meet a fault before all succeed.
        var settled = false
        for _ in 1...10 where !settled {
            let run = try product.dbbackup("run", "cloud")
            settled = try run.status == 0 && registry.backups(in: .pruning).isEmpty
        }
        #expect(settled, "seed \(seed): ten more runs did not settle every delete")
        let kept = try registry.storedBackups()
        #expect(kept.count == 3, "seed \(seed): retention holds exactly 3")
        #expect(try registry.backups(in: .pruning).isEmpty)
        for record in kept {
            #expect(try product.adminRead(try #require(product.key(record))).get() == record.sha256)
        }
        for record in try registry.backups(in: .pruned) {
            if case .success = product.adminRead(try #require(product.key(record))) {
                Issue.record("seed \(seed): pruned \(record.location?.description ?? "") is still in the store")
            }
        }
        #expect(stored > 150, "seed \(seed): \(stored) stored, \(failed) failed")
        print(
            """
            soak: 200 runs through \(proxy.requests.count) requests, \
            \(plan.prefix(proxy.requests.count).filter { $0 != "pass" }.count) faults: \(stored) stored, \
            \(failed) failed clean; seed \(seed) (DBBACKUP_SOAK_SEED)
            """
        )
    }
}

@Suite("dbbackup with S3: crash safety", .serialized)
struct S3CrashTests {
    @Test(
        """
        SIGKILL during S3 runs: no registry row for an object not completely stored; the next run settles and \
        cleans up
        """
    )
    func crashes() throws {
        // 4 MB: one PUT of the finished, verified file; the points of an upload that goes on
        // during the copy are never reached.
        try Self.crashes(
            megabytes: 4, s3Settings: "", randomKillMicroseconds: 150_000,
            points: CrashPoint.allCases.filter { !CrashPoint.overlappedUpload.contains($0) })
    }

    @Test(
        """
        SIGKILL during S3 runs whose parts go up while the snapshot is copied: nothing unverified is ever \
        recorded as stored
        """
    )
    func crashesDuringOverlappedUpload() throws {
        // 16 MB in 5 MiB parts: above the threshold, so each run claims its name and sends
        // its parts while the copy and quick_check go on, and commits after them.
        try Self.crashes(
            megabytes: 16, s3Settings: "multipart_threshold_mib = 5\npart_size_mib = 5",
            randomKillMicroseconds: 600_000,
            points: CrashPoint.allCases.filter { $0 != .afterRecord }, overlapped: true)
    }

    /// Kills runs at each of `points` (twice, and each must really die there) and at random
    /// moments; after each kill, every stored row's object is in the store byte for byte, and
    /// the next run settles what the killed one left: nothing pending, and nothing the registry
    /// no longer counts is still in the store.
    static func crashes(
        megabytes: Int, s3Settings: String, randomKillMicroseconds: Int, points: [CrashPoint],
        overlapped: Bool = false
    ) throws {
        let server = try TestServers.moto.get()
        let product = try Product(server: server, megabytes: megabytes, s3Settings: s3Settings)
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("retention", "set", "--remote", "2"))
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = product.configDirectory
        environment["DBBACKUP_STATE_DIR"] = product.stateDirectory
        let seed =
            UInt64(ProcessInfo.processInfo.environment["DBBACKUP_CRASH_SEED"] ?? "")
            ?? UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        var kills: [String] = points.flatMap { [$0.rawValue, $0.rawValue] }
        kills += (0..<20).map { _ in "random" }
        for _ in 0..<3 { try product.expectOK(product.dbbackup("run", "cloud")) }
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        for (round, kill) in kills.enumerated() {
            var env = environment
            if kill != "random" { env["DBBACKUP_TEST_CRASH_AT"] = kill }
            let storedBefore = try registry.storedBackups().map(\.id)
            let child = try Spawn.start(Product.binary, ["run", "cloud"], environment: env)
            if kill == "random" {
                usleep(useconds_t(Int.random(in: 0...randomKillMicroseconds, using: &rng)))
                child.kill()
            }
            let result = child.wait()
            let context = "seed \(seed) #\(round) \(kill)"
            if kill != "random" {
                #expect(
                    result.signal == SIGKILL,
                    "\(context): the run was not killed there (status \(result.status)): \(result.stderr)")
            }
            // Right after the kill: every stored row's object is in the store, byte for byte.
            for record in try registry.storedBackups() {
                #expect(!(record.sha256 ?? "").isEmpty, "\(context): a stored row without its SHA-256")
                #expect(try product.adminRead(try #require(product.key(record))).get() == record.sha256, "\(context)")
            }
            if overlapped, let point = CrashPoint(rawValue: kill),
                CrashPoint.overlappedUpload.contains(point) || point == .afterSnapshot
            {
                // Killed before the upload was committed: the run recorded nothing as stored.
                #expect(
                    try registry.storedBackups().map(\.id) == storedBefore,
                    "\(context): a backup was recorded as stored")
                let pending = try registry.backups(in: .pending)
                #expect(pending.count == 1, "\(context): the killed run's claim is not pending")
                // The claim is recorded before the first byte is copied, so nothing is verified
                // yet. (The first part may go up after the copy was verified and its SHA-256
                // recorded, when the copy is faster than the upload: then only `stored` counts.)
                if point == .afterEarlyRecord {
                    #expect(pending.first?.sha256 == nil, "\(context): a SHA-256 recorded before the copy was verified")
                }
            }
            let run = try product.dbbackup("run", "cloud")
            #expect(run.status == 0, "\(context): the next run failed: \(run.stderr)")
            #expect(try registry.backups(in: .pending).isEmpty, "\(context): a pending record was not settled")
            #expect(try registry.backups(in: .pruning).isEmpty, "\(context): an interrupted delete was not finished")
            #expect(try registry.storedBackups().count == 2, "\(context): retention")
            #expect(product.stagingLeftovers.isEmpty, "\(context): staging left")
            // What the registry no longer counts is not in the store (unconfirmed uploads were deleted).
            for record in try registry.backups(in: .failed) + registry.backups(in: .pruned) {
                guard let key = product.key(record) else { continue }
                if case .success = product.adminRead(key) {
                    Issue.record("\(context): \(key) (\(record.state)) is still in the store")
                }
            }
        }
        print(
            """
            S3 crash safety (\(megabytes) MB\(overlapped ? ", parts sent during the copy" : "")): \(kills.count) \
            kills, seed \(seed)
            """
        )
    }

    @Test(
        """
        a snapshot that fails its verification after its parts went up: nothing is stored, nothing is left in the \
        store
        """
    )
    func unverifiedSnapshotLeavesNothing() throws {
        let server = try TestServers.moto.get()
        let product = try Product(
            server: server, megabytes: 16, s3Settings: "multipart_threshold_mib = 5\npart_size_mib = 5")
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        // A version query that depends on the file, not the data: the live database and its
        // copy (in the staging directory) of the same moment give different versions, which
        // fails the snapshot's verification after the copy, when its parts have gone up.
        let main = product.configDirectory + "/dbbackup.toml"
        let query =
            """
            SELECT CASE WHEN file LIKE '%/staging/%' THEN 'copy' ELSE 'live' END FROM pragma_database_list WHERE \
            name = 'main'
            """
        let text = try String(contentsOfFile: main, encoding: .utf8)
        #expect(text.contains("[database]\n"))
        try text.replacingOccurrences(of: "[database]\n", with: "[database]\nversion_query = \"\(query)\"\n")
            .write(toFile: main, atomically: true, encoding: .utf8)
        let stored = try product.storedBackups()
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status == ExitStatus.snapshot.code, "\(run.output)")
        #expect(run.stderr.contains("differs from the one read from its copy"), "\(run.stderr)")
        #expect(
            try product.storedBackups().map(\.id) == stored.map(\.id), "the unverified snapshot was recorded as stored")
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        #expect(try registry.backups(in: .pending).isEmpty)
        // Its name was claimed before the copy (the upload started with it), then failed.
        let failed = try registry.backups(in: .failed)
        #expect(failed.count == 1)
        let key = try #require(failed.first.flatMap(product.key))
        #expect(key.contains("_vlive_"), "\(key)")
        if case .failure(let error) = product.adminRead(key) {
            #expect(error.code == .noSuchKey, "\(error)")
        } else {
            Issue.record("\(key) is in the store")
        }
        // The agent may not abort: the upload was completed and its object deleted, so no
        // incomplete upload (billed parts) is left either.
        let uploads = try LandingScenarios(server: server).incompleteUploads()
        #expect(!uploads.contains(key), "an incomplete upload of \(key) is left")
        #expect(product.stagingLeftovers.isEmpty)
    }
}

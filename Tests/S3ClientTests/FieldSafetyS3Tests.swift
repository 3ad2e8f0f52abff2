import BackupCore
import Foundation
import S3Client
import SystemCalls
import TestKit
import Testing

/// Accidents with an S3 registration that must cost nothing: the registration moved to another
/// bucket, a PUT that arrives after its run gave up, a store that stalls while another
/// registration of the same database wants to back up, and a lost state directory.
@Suite("dbbackup with S3: field safety", .serialized)
struct FieldSafetyS3Tests {
    var server: S3TestServer { get throws { try TestServers.moto.get() } }

    /// Creates a bucket with the admin's key (boto3, as the tests' servers are set up).
    static func createBucket(_ name: String, on server: S3TestServer) throws {
        let script = """
            import boto3, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3], \
            aws_secret_access_key=sys.argv[4])
            s3.create_bucket(Bucket=sys.argv[5])
            """
        let result = try Spawn.run(
            "python3",
            [
                "-c", script, server.endpoint, server.region, server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
                server.values["S3_ADMIN_SECRET_KEY"] ?? "", name,
            ])
        try #require(result.status == 0, "create_bucket \(name): \(result.stderr)")
    }

    static func useAdminKey(_ product: Product) throws {
        try product.expectOK(
            product.dbbackup(
                "registration", "edit", "cloud", "--access-key", product.server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
                "--secret-key-stdin", input: (product.server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n"))
    }

    @Test(
        "after registration edit --bucket, retention deletes the old backups where they were stored, and says so truly")
    func movedBucket() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        // A key that may write both buckets: the admin's.
        try Self.useAdminKey(product)
        let moved = "moved-\(UUID().uuidString.prefix(8).lowercased())"
        try Self.createBucket(moved, on: server)
        for _ in 1...2 { try product.expectOK(product.dbbackup("run", "cloud")) }
        let old = try #require(try product.storedBackups().first)
        let oldKey = try #require(product.key(old))

        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--bucket", moved))
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("retention deleted s3://\(server.bucket)/\(oldKey)"), "\(run.stdout)")
        if case .success = product.adminRead(oldKey) { Issue.record("the old backup is still in the old bucket") }
        let kept = try product.storedBackups()
        #expect(kept.count == 2)
        #expect(
            try product.adminRead(try #require(product.key(kept[0]))).get() == kept[0].sha256,
            "the other old backup is untouched")
        #expect(try product.adminRead(try #require(product.key(kept[1])), bucket: moved).get() == kept[1].sha256)
    }

    @Test(
        "a PUT that arrives after its run gave up is deleted by later runs, and a failed clean-up makes the run exit 74"
    )
    func latePut() throws {
        let server = try server
        // Run 1: four PUTs stored and then answered 500 (it gives up), its clean-up DELETE passes.
        // Run 2: its PUT passes; every attempt to delete run 1's key again fails.
        // Run 3: all passes.
        let plan =
            Array(repeating: "store-then-500", count: 4) + ["pass", "pass"] + Array(repeating: "500", count: 4) + [
                "pass*"
            ]
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: plan.joined(separator: ","))
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        #expect(try product.dbbackup("run", "cloud").status == ExitStatus.store.code)
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        let failed = try #require(try registry.backups(in: .failed).last)
        #expect(try registry.backups(in: .failed).count == 1, "one failed run, one row")
        let key = try #require(product.key(failed))
        if case .success = product.adminRead(key) { Issue.record("the failed run left its object") }

        // A buffering proxy delivers one of the run's PUTs now, after the run deleted the key.
        let late = product.root.appendingPathComponent("late.db")
        try Data(repeating: 7, count: 4096).write(to: late)
        try server.client(.admin).putObject(key: key, fromFile: late.path)

        let second = try product.dbbackup("run", "cloud")
        #expect(second.status == ExitStatus.cleanup.code, "\(second.output)")
        #expect(second.stderr.contains("left by the failed run"), "\(second.stderr)")
        #expect(try product.storedBackups().count == 1, "the backup itself was stored")
        try product.expectOK(product.dbbackup("run", "cloud"))
        if case .success = product.adminRead(key) { Issue.record("the late PUT's object is still in the store") }
    }

    @Test(
        """
        a stalled upload holds its registration, not the database: another registration backs up the same \
        database meanwhile
        """
    )
    func uploadDoesNotHoldTheDatabase() throws {
        let server = try server
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "stall*")
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        let main = product.configDirectory + "/dbbackup.toml"
        try
            (try String(contentsOfFile: main, encoding: .utf8)
            .replacingOccurrences(of: "max_attempts = 4", with: "max_attempts = 1")
            .replacingOccurrences(of: "[database]", with: "[database]\nlock_timeout = 1"))
            .write(toFile: main, atomically: true, encoding: .utf8)
        try product.expectOK(
            product.dbbackup(
                "registration", "add", "local", "--provider", "filesystem",
                "--path", product.root.appendingPathComponent("local").path, "--schedule", "migration"))
        var environment = ProcessInfo.processInfo.environment
        environment["DBBACKUP_CONFIG_DIR"] = product.configDirectory
        environment["DBBACKUP_STATE_DIR"] = product.stateDirectory
        let upload = try Spawn.start(Product.binary, ["run", "cloud"], environment: environment)
        defer {
            upload.kill()
            _ = upload.wait()
        }
        // Wait until the upload has begun: its backup is recorded (pending) once the snapshot is done.
        let registry = try BackupRegistry(path: product.stateDirectory + "/registry.db")
        var uploading = false
        for _ in 0..<200 where !uploading {
            uploading = !(try registry.backups(in: .pending, registration: "cloud")).isEmpty
            if !uploading { usleep(25_000) }
        }
        try #require(uploading, "the S3 run never began its upload")
        let started = Date()
        let local = try product.dbbackup("run", "local")
        #expect(local.status == 0, "the database lock was still held by the stalled upload: \(local.output)")
        #expect(Date().timeIntervalSince(started) < 4)
    }

    @Test(
        """
        registry rebuild recovers an S3 registration's backups from the bucket, with the SHA-256 and trigger each \
        object carries
        """
    )
    func rebuildFromBucket() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        // A bucket of its own, and no prefix: moto 5.2.1 refuses a signed ListObjectsV2 whose
        // prefix holds a '/', which every non-empty dbbackup prefix ends with (real S3 does not).
        let bucket = "rebuild-\(UUID().uuidString.prefix(8).lowercased())"
        try Self.createBucket(bucket, on: server)
        try Self.useAdminKey(product)
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--bucket", bucket, "--prefix", ""))
        try product.expectOK(product.dbbackup("retention", "set", "--remote", "5"))
        for trigger in ["timer", "migration"] {
            try product.expectOK(product.dbbackup("run", "cloud", "--trigger", trigger))
        }
        let before = try product.storedBackups()
        try FileManager.default.removeItem(atPath: product.stateDirectory)

        // The agent's own key may not list: the error says what is needed.
        let admin = (server.values["S3_ADMIN_ACCESS_KEY"] ?? "", (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        let rebuild = try product.dbbackup(
            "registry", "rebuild", "--access-key", admin.0, "--secret-key-stdin", input: admin.1)
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.stdout.contains("cloud: 2 backup(s) found in s3://\(bucket)/"), "\(rebuild.stdout)")
        let after = try product.storedBackups()
        #expect(after.map(\.sha256) == before.map(\.sha256))
        #expect(after.map(\.location) == before.map(\.location))
        #expect(after.map(\.trigger) == [.timer, .migration], "the trigger each object carries")
    }

    @Test("the restore drill: the state directory is gone, and the backup comes back from the bucket alone")
    func restoreDrill() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        let backup = try #require(try product.storedBackups().first)
        let key = try #require(product.key(backup))
        try FileManager.default.removeItem(atPath: product.stateDirectory)
        try FileManager.default.removeItem(atPath: product.configDirectory)

        let target = product.root.appendingPathComponent("restored.db").path
        let restore = try product.dbbackup(
            "restore", "s3://\(server.bucket)/\(key)", "--endpoint", server.endpoint, "--region", server.region,
            "--force-path-style", "--access-key", server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
            "--secret-key-stdin", "--to", target, input: (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        #expect(restore.status == 0, "\(restore.output)")
        #expect(restore.stdout.contains("verified against the object's metadata"), "\(restore.stdout)")
        #expect(try FileSystem.sha256(of: target).sha256 == backup.sha256)
        #expect(try SQLiteConnection(path: target, mode: .readOnly).scalar("SELECT count(*) FROM t") == "2000")
    }
}

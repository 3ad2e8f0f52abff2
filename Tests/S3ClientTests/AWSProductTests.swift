import BackupCore
import Foundation
import S3Client
import SystemCalls
import TestKit
import Testing

/// dbbackup as an AWS shop runs it (issue 14), against moto with IAM on: instance-role
/// credentials, encryption at rest, storage classes and their costs, region hints, legacy
/// bucket names, proxies and private CAs.
@Suite("dbbackup with AWS features: moto", .serialized)
struct AWSProductTests {
    var server: S3TestServer { get throws { try TestServers.moto.get() } }

    func roleArn(_ server: S3TestServer, noPut: Bool = false) throws -> String {
        try #require(
            server.values[noPut ? "S3_ROLE_NOPUT_ARN" : "S3_ROLE_ARN"], "moto_up.py wrote no role (an old moto.env?)")
    }

    @Test(
        """
        credentials = instance: no access key or secret stored; runs, test and retention use the role; restore \
        needs s3:GetObject
        """
    )
    func instanceRole() throws {
        let server = try server
        let imds = try IMDSDouble(mode: "role", server: server, roleArn: try roleArn(server))
        let product = try Product(
            server: server, credentials: ["--credentials", "instance"],
            environment: ["DBBACKUP_TEST_IMDS_ENDPOINT": imds.endpoint])
        defer { product.cleanUp() }
        let file = try String(contentsOfFile: product.configDirectory + "/registrations.d/cloud.toml", encoding: .utf8)
        #expect(file.contains("credentials = 'instance'") && !file.contains("access_key"), "\(file)")
        #expect(!FileManager.default.fileExists(atPath: product.configDirectory + "/secrets/cloud.secret"))
        let show = try product.dbbackup("registration", "show", "cloud")
        #expect(show.stdout.contains("credentials: instance"), "\(show.output)")
        let check = try product.dbbackup("config", "check")
        #expect(check.status == 0 && !check.output.contains("secret"), "\(check.output)")

        for _ in 1...3 { try product.expectOK(product.dbbackup("run", "cloud")) }
        let stored = try product.storedBackups()
        #expect(stored.count == 2, "retention deleted through the role")
        for record in stored {
            #expect(try product.adminRead(try #require(product.key(record))).get() == record.sha256)
        }

        let probe = try product.dbbackup("registration", "test", "cloud")
        #expect(probe.status == 0, "\(probe.output)")
        #expect(
            probe.stdout.contains(
                """
                ok   get the instance role's credentials (IMDSv2): the instance role dbbackup-instance, access \
                key ASIA
                """
            ),
            "\(probe.stdout)")
        #expect(
            probe.stdout.contains(
                """
                note: restore needs s3:GetObject on arn:aws:s3:::\(server.bucket)/\(product.prefix)/*: on this \
                instance through its role
                """
            ))

        // The role may not read (as backups need not): restore says what it needs, naming the role.
        let denied = try product.dbbackup(
            "restore", "latest", "--to", product.root.appendingPathComponent("denied.db").path)
        #expect(denied.status != 0)
        #expect(denied.stderr.contains("the instance role dbbackup-instance needs s3:GetObject"), "\(denied.stderr)")
        let restored = product.root.appendingPathComponent("restored.db").path
        try product.expectOK(
            product.dbbackup(
                "restore", "latest", "--to", restored, "--access-key", server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
                "--secret-key-stdin", input: (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n"))
        #expect(try FileSystem.sha256(of: restored).sha256 == stored.last?.sha256)
    }

    @Test("a stored secret and instance credentials are never both: each combination is refused naming the option")
    func eitherSecretOrRole() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        let secretFile = product.configDirectory + "/secrets/cloud.secret"
        let refused: [(options: [String], input: String, error: String)] = [
            (
                ["--credentials", "instance", "--secret-key-stdin"], "secret-secret\n",
                "--secret-key-stdin: a registration with --credentials instance has no secret key"
            ),
            (
                ["--credentials", "instance", "--access-key", "AKIAEXAMPLE"], "",
                "--access-key = \"AKIAEXAMPLE\": is not used with credentials = \"instance\""
            ),
            (["--credentials", "role"], "", "--credentials = \"role\": is not a credential source"),
        ]
        let add = ["registration", "add", "other", "--provider", "s3", "--bucket", server.bucket]
        for (options, input, error) in refused {
            let result = try product.dbbackup(add + options + ["--schedule", "migration"], input: input)
            #expect(result.status != 0, "\(options)")
            #expect(result.stderr.contains(error), "\(options): \(result.stderr)")
        }

        // Switching the registration to the role drops its key and its stored secret.
        #expect(FileManager.default.fileExists(atPath: secretFile))
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--credentials", "instance"))
        #expect(!FileManager.default.fileExists(atPath: secretFile), "the stored secret is removed")
        let export = try product.dbbackup("config", "export", "--json")
        let document = try JSONSerialization.jsonObject(with: Data(export.stdout.utf8)) as? [String: Any]
        let exported = (document?["registrations"] as? [[String: Any]])?.first
        #expect(exported?["credentials"] as? String == "instance", "\(export.stdout)")
        #expect(exported?["access_key"] == nil)
        #expect(!export.stdout.contains(server.values["S3_AGENT_ACCESS_KEY"] ?? "-"))
        // And back: the access key and a secret are needed again.
        let keyless = try product.dbbackup("registration", "edit", "cloud", "--credentials", "secret")
        #expect(keyless.status != 0)
        #expect(keyless.stderr.contains("--access-key: is missing"), "\(keyless.stderr)")
        try product.expectOK(
            product.dbbackup(
                "registration", "edit", "cloud", "--credentials", "secret",
                "--access-key", server.values["S3_AGENT_ACCESS_KEY"] ?? "", "--secret-key-stdin",
                input: (server.values["S3_AGENT_SECRET_KEY"] ?? "") + "\n"))
        try product.expectOK(product.dbbackup("run", "cloud"))
        // A secret file left beside an instance registration is reported.
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--credentials", "instance"))
        try "stale-secret-value\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let check = try product.dbbackup("config", "check")
        #expect(
            check.stdout.contains("secrets/cloud.secret: is not used: cloud signs with the instance's role"),
            "\(check.output)")
    }

    @Test("a run on a host without a role fails clearly and records nothing in the store")
    func instanceWithoutRole() throws {
        let server = try server
        let imds = try IMDSDouble(mode: "no-role")
        let product = try Product(
            server: server, credentials: ["--credentials", "instance"],
            environment: ["DBBACKUP_TEST_IMDS_ENDPOINT": imds.endpoint])
        defer { product.cleanUp() }
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status != 0)
        #expect(run.stderr.contains("no IAM role is attached to this instance"), "\(run.stderr)")
        #expect(try product.storedBackups().isEmpty)
        let probe = try product.dbbackup("registration", "test", "cloud")
        #expect(probe.status != 0)
        #expect(probe.stdout.contains("FAIL get the instance role's credentials (IMDSv2)"), "\(probe.stdout)")
        // A role without s3:PutObject: the PUT names the role and the permission.
        let noPut = try IMDSDouble(mode: "role", server: server, roleArn: try roleArn(server, noPut: true))
        var denied = product
        denied.environment["DBBACKUP_TEST_IMDS_ENDPOINT"] = noPut.endpoint
        let refused = try denied.dbbackup("registration", "test", "cloud")
        #expect(
            refused.stdout.contains("FAIL PUT")
                && refused.stdout.contains("the instance role dbbackup-instance-noput needs s3:PutObject"),
            "\(refused.stdout)")
    }

    @Test(
        "SSE-KMS, a storage class and Content-Type reach every backup object, single PUT and multipart",
        arguments: [2, 12])
    func encryptionAndStorageClass(megabytes: Int) throws {
        let server = try server
        let product = try Product(
            server: server, megabytes: megabytes, s3Settings: "multipart_threshold_mib = 5\npart_size_mib = 5",
            options: [
                "--server-side-encryption", "aws:kms", "--kms-key-id", "alias/dbbackup", "--storage-class",
                "STANDARD_IA",
            ])
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        let record = try #require(try product.storedBackups().first)
        let info = try server.client(.admin).headObject(key: try #require(product.key(record)))
        #expect(info.contentType == "application/vnd.sqlite3")
        #expect(info.serverSideEncryption == "aws:kms")
        #expect(info.storageClass == "STANDARD_IA")
        #expect(info.size == record.size)
        let show = try product.dbbackup("registration", "show", "cloud")
        #expect(
            show.stdout.contains("server_side_encryption: aws:kms, kms_key_id: alias/dbbackup")
                && show.stdout.contains("storage_class: STANDARD_IA"))
        // The probe goes up as backups do, and names the KMS permission.
        let probe = try product.dbbackup("registration", "test", "cloud")
        #expect(probe.stdout.contains("ok   PUT") && probe.stdout.contains("kms:GenerateDataKey"), "\(probe.stdout)")
        #expect(probe.stdout.contains("note: restore also needs kms:Decrypt on the KMS key alias/dbbackup"))
        // With the threshold at 5 MiB, a 12 MB database will go multipart (a 2 MB one not yet):
        // then the probe recommends the lifecycle rule that removes abandoned parts.
        #expect(
            probe.stdout.contains("\"AbortIncompleteMultipartUpload\":{\"DaysAfterInitiation\":1}")
                == (megabytes == 12), "\(probe.stdout)")
        // Dropping encryption drops the key id with it.
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--server-side-encryption", "AES256"))
        let file = try String(contentsOfFile: product.configDirectory + "/registrations.d/cloud.toml", encoding: .utf8)
        #expect(file.contains("server_side_encryption = 'AES256'") && !file.contains("kms_key_id"), "\(file)")
    }

    @Test(
        """
        retention shorter than the storage class's minimum duration is warned about at add, retention set and \
        config check
        """
    )
    func minimumStorageDuration() throws {
        let server = try server
        let product = try Product(server: server)
        defer { product.cleanUp() }
        let add = try product.dbbackup(
            "registration", "add", "ia", "--provider", "s3", "--bucket", server.bucket, "--endpoint", server.endpoint,
            "--force-path-style", "--access-key", "AKIAEXAMPLE", "--secret-key-stdin", "--storage-class", "STANDARD_IA",
            "--schedule", "daily", "--time", "02:00", "--time", "14:00", input: "secret-secret\n")
        #expect(add.status == 0, "\(add.output)")
        // Remote retention is 2 (Product): two backups a day, so one is deleted a day after it was taken.
        #expect(
            add.stderr.contains(
                "warning: command line: --storage-class = \"STANDARD_IA\": bills every object for at least 30 days, "
                    + "but with retention.remote = 2 and this schedule a backup can be deleted after 1 day(s)"),
            "\(add.stderr)")
        #expect(add.stderr.contains("keep at least 60 remote backups"), "\(add.stderr)")
        let check = try product.dbbackup("config", "check")
        #expect(
            check.stdout.contains(
                "registrations.d/ia.toml: storage_class = \"STANDARD_IA\": bills every object for at least 30 days"),
            "\(check.stdout)")
        let enough = try product.dbbackup("retention", "set", "--remote", "60")
        #expect(enough.status == 0 && !enough.stderr.contains("storage_class"), "\(enough.output)")
        let tooFew = try product.dbbackup("retention", "set", "--remote", "59")
        #expect(tooFew.stderr.contains("ia.toml: storage_class"), "\(tooFew.output)")
        // An edit of something else warns about the stored setting, in its file.
        let retimed = try product.dbbackup("registration", "edit", "ia", "--time", "03:00", "--time", "15:00")
        #expect(
            retimed.stderr.contains("warning: registrations.d/ia.toml: storage_class = \"STANDARD_IA\""),
            "\(retimed.stderr)")
        // GLACIER warns that restores need an unarchive.
        let glacier = try product.dbbackup("registration", "edit", "ia", "--storage-class", "GLACIER")
        #expect(
            glacier.stderr.contains("archives backups: restoring one first needs an unarchive"), "\(glacier.stderr)")
    }

    @Test("restoring a backup in GLACIER explains the unarchive instead of blaming the key")
    func archivedRestore() throws {
        let server = try server
        let product = try Product(server: server, options: ["--storage-class", "GLACIER"])
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        let restore = try product.dbbackup(
            "restore", "latest", "--to", product.root.appendingPathComponent("r.db").path,
            "--access-key", server.values["S3_ADMIN_ACCESS_KEY"] ?? "", "--secret-key-stdin",
            input: (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        #expect(restore.status != 0)
        #expect(
            restore.stderr.contains("InvalidObjectState") && restore.stderr.contains("aws s3api restore-object"),
            "\(restore.stderr)")
        #expect(!restore.stderr.contains("needs s3:GetObject"), "\(restore.stderr)")
    }

    @Test(
        "a bucket in another region: the answer names the --region to give",
        arguments: ["region-301:eu-west-1", "region-400:eu-west-1"])
    func wrongRegion(plan: String) throws {
        let server = try server
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: plan + "*")
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        let run = try product.dbbackup("run", "cloud")
        #expect(run.status != 0)
        #expect(
            run.stderr.contains("bucket '\(server.bucket)' is in region eu-west-1: give --region eu-west-1"),
            "\(run.stderr)")
        #expect(
            proxy.requests.count <= 2,
            "not retried as if transient (one upload, one clean-up delete): \(proxy.requests)")
    }

    @Test("a legacy bucket name (uppercase, '_') is accepted with a warning and addressed path-style")
    func legacyBucket() throws {
        let server = try server
        let bucket = "Legacy_Backups_\(UUID().uuidString.prefix(6))"
        let admin = try server.client(.admin, bucket: bucket)
        _ = try TestSupport.run(
            "python3",
            [
                "-c",
                """
                import boto3, sys
                boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2],
                             aws_secret_access_key=sys.argv[3]).create_bucket(Bucket=sys.argv[4])
                """, server.endpoint, server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
                server.values["S3_ADMIN_SECRET_KEY"] ?? "", bucket,
            ])
        // localhost, not 127.0.0.1, and no --force-path-style: only the name forces path style.
        let endpoint = server.endpoint.replacing("127.0.0.1", with: "localhost")
        let product = try Product(server: server, endpoint: endpoint)
        defer { product.cleanUp() }
        let edit = try product.dbbackup(
            "registration", "edit", "cloud", "--bucket", bucket, "--no-force-path-style",
            "--access-key", server.values["S3_ADMIN_ACCESS_KEY"] ?? "", "--secret-key-stdin",
            input: (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        #expect(edit.status == 0, "\(edit.output)")
        #expect(edit.stderr.contains("a legacy bucket name") && edit.stderr.contains("path-style"), "\(edit.stderr)")
        try product.expectOK(product.dbbackup("run", "cloud"))
        let record = try #require(try product.storedBackups().first)
        #expect(try admin.headObject(key: try #require(product.key(record))).size == record.size)
        // A name no store accepts is still refused.
        let bad = try product.dbbackup("registration", "edit", "cloud", "--bucket", "bad bucket")
        #expect(
            bad.status != 0 && bad.stderr.contains("--bucket = \"bad bucket\": may contain only letters, digits"),
            "\(bad.stderr)")
    }

    @Test("http_proxy is honoured (requests go through it in absolute form) and no_proxy bypasses it")
    func proxy() throws {
        let server = try server
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "pass*")
        let product = try Product(server: server, environment: ["http_proxy": "http://127.0.0.1:\(proxy.port)"])
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("run", "cloud"))
        #expect(
            proxy.requests.contains { $0.contains("PUT \(server.endpoint)/\(server.bucket)/") }, "\(proxy.requests)")
        let before = proxy.requests.count
        var bypassing = product
        bypassing.environment["no_proxy"] = "127.0.0.1"
        try bypassing.expectOK(bypassing.dbbackup("run", "cloud"))
        #expect(proxy.requests.count == before, "no_proxy: \(proxy.requests)")
        #expect(try product.storedBackups().count == 2)
    }

    @Test("a store with a private CA: the TLS error names [s3] ca_bundle, and with it set the upload works")
    func privateCA() throws {
        let server = try server
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("store.pem").path
        let key = directory.appendingPathComponent("store.key").path
        _ = try TestSupport.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        let proxy = try FaultInjectionTests.FaultProxy(upstream: server, plan: "pass*", tls: (certificate, key))
        let product = try Product(server: server, endpoint: proxy.endpoint)
        defer { product.cleanUp() }
        let untrusted = try product.dbbackup("run", "cloud")
        #expect(untrusted.status != 0)
        #expect(untrusted.stderr.contains("ca_bundle in the [s3] table of dbbackup.toml"), "\(untrusted.stderr)")
        let main = product.configDirectory + "/dbbackup.toml"
        try
            (try String(contentsOfFile: main, encoding: .utf8).replacing(
                "[s3]\n", with: "[s3]\nca_bundle = \"\(certificate)\"\n"))
            .write(toFile: main, atomically: true, encoding: .utf8)
        try product.expectOK(product.dbbackup("run", "cloud"))
        #expect(try product.storedBackups().count == 1)
    }
}

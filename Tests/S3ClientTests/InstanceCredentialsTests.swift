import Foundation
import Testing

@testable import S3Client

/// One scripts/s3/imds_double.py process: a TEST DOUBLE of the instance metadata service
/// (IMDSv2), because no real one can run on a test machine. In mode `role` the credentials it
/// serves come from moto's STS AssumeRole, so moto (IAM on) checks their session token and
/// applies the role's policy. Its `requests` are "METHOD PATH STATUS [ACCESS_KEY_ID]" per request.
final class IMDSDouble: ScriptServer {
    init(mode: String, server: S3TestServer? = nil, roleArn: String? = nil, lifetimeSeconds: Int = 3600) throws {
        var options = ["--lifetime", String(lifetimeSeconds)]
        if let server, let roleArn {
            let env = FileManager.default.temporaryDirectory.appendingPathComponent(
                "imds-moto-\(UUID().uuidString).env")
            try server.values.map { "\($0.key)=\($0.value)" }.joined(separator: "\n").write(
                to: env, atomically: true, encoding: .utf8)
            options += ["--moto-env", env.path, "--role-arn", roleArn]
        }
        try super.init(script: "imds_double.py", arguments: [mode], options: options, logPrefix: "imds")
    }

    /// The access key ids of the credentials served, in order.
    var servedKeys: [String] {
        requests.filter { $0.hasPrefix("GET /latest/meta-data/iam/security-credentials/dbbackup") }.compactMap {
            $0.split(separator: " ").last.map(String.init)
        }
    }
}

extension S3TestServer {
    /// A client that signs with the instance role's credentials from `imds`.
    func instanceClient(_ imds: IMDSDouble, policy: TransferPolicy = .forTests) throws -> S3Client {
        var configuration = configuration(.agent)
        configuration.accessKey = ""
        configuration.secretKey = ""
        configuration.credentialSource = .instanceMetadata(endpoint: imds.endpoint)
        return try S3Client(configuration, policy: policy)
    }
}

/// What instance credentials must do against any server with STS: moto (IAM on) and radosgw.
struct InstanceScenarios {
    let server: S3TestServer

    func role(noPut: Bool = false) throws -> String {
        try #require(
            server.values[noPut ? "S3_ROLE_NOPUT_ARN" : "S3_ROLE_ARN"],
            "the start script wrote no role (an old env file?)")
    }

    /// Uploads signed with the role's temporary credentials and their session token are accepted.
    func uploadsWithTheRole() throws {
        let imds = try IMDSDouble(mode: "role", server: server, roleArn: try role())
        let client = try server.instanceClient(imds)
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("db.db")
        try TestSupport.makeFile(at: source, size: 11 * 1024 * 1024, seed: 5)
        let key = "instance/\(UUID().uuidString).db"
        let put = try client.putObject(key: key, fromFile: source.path)
        #expect(put.partCount == 3, "multipart: concurrent parts share the cached credentials")
        try client.putObject(key: key + ".small", bytes: [1, 2, 3])
        #expect(
            try server.client(.admin).getObject(key: key, toFile: dir.appendingPathComponent("copy").path).sha256
                == put.sha256)
        try client.deleteObject(key: key)
        try client.deleteObject(key: key + ".small")
        // One token, one role lookup, one set of credentials for all of it (IMDSv2 only: a PUT first).
        #expect(imds.requests.first?.hasPrefix("PUT /latest/api/token 200") == true, "\(imds.requests)")
        #expect(imds.servedKeys.count == 1, "\(imds.requests)")
        #expect(client.principal == "the instance role dbbackup-instance")
    }

    /// The server checks the session token: the same temporary keys with a wrong token, or
    /// none, are refused. `codes`: what this server answers a wrong token with.
    func theSessionTokenIsChecked(codes: Set<S3Error.Code>) throws {
        let imds = try IMDSDouble(mode: "role", server: server, roleArn: try role())
        let credentials = try server.instanceClient(imds).currentCredentials()
        var configuration = server.configuration(.agent)
        configuration.accessKey = credentials.accessKey
        configuration.secretKey = credentials.secretKey
        configuration.sessionToken = String((credentials.sessionToken ?? "").dropLast(4)) + "AAAA"
        let error = #expect(throws: S3Error.self) {
            try S3Client(configuration, policy: .forTests).putObject(key: "instance/\(UUID().uuidString)", bytes: [1])
        }
        #expect(error.flatMap(\.code).map(codes.contains) == true, "\(String(describing: error))")
        #expect(
            error.map { !"\($0)".contains(credentials.secretKey) && !"\($0)".contains(configuration.sessionToken!) }
                == true)
        configuration.sessionToken = nil
        #expect(throws: S3Error.self) {
            try S3Client(configuration, policy: .forTests).putObject(key: "instance/\(UUID().uuidString)", bytes: [1])
        }
    }

    /// Credentials are cached, and fetched again shortly before they expire.
    func credentialsRotate() throws {
        // Credentials said to last 10 s: renewed when less than half their lifetime (5 s) is left.
        // (Long enough that two uploads on a loaded test machine stay well inside the first half.)
        let imds = try IMDSDouble(mode: "role", server: server, roleArn: try role(), lifetimeSeconds: 10)
        let client = try server.instanceClient(imds)
        let key = "instance/\(UUID().uuidString)"
        try client.putObject(key: key, bytes: [1])
        try client.putObject(key: key, bytes: [2])
        #expect(imds.servedKeys.count == 1, "cached: \(imds.requests)")
        sleep(6)
        try client.putObject(key: key, bytes: [3])
        let served = imds.servedKeys
        #expect(served.count == 2, "renewed: \(imds.requests)")
        #expect(Set(served).count == served.count, "each renewal is a new AssumeRole, and the server took both")
        try client.deleteObject(key: key)
        #expect(
            imds.requests.filter { $0.hasPrefix("PUT /latest/api/token") }.count == 1, "the session token is reused")
    }

    /// A role without s3:PutObject: AccessDenied naming the role and the permission.
    func roleWithoutPutObject() throws {
        let imds = try IMDSDouble(mode: "role", server: server, roleArn: try role(noPut: true))
        let error = #expect(throws: S3Error.self) {
            try server.instanceClient(imds).putObject(key: "instance/\(UUID().uuidString)", bytes: [1])
        }
        #expect(error?.code == .accessDenied)
        #expect(
            error?.description.contains(
                "the instance role dbbackup-instance-noput needs s3:PutObject on arn:aws:s3:::\(server.bucket)/*")
                == true,
            "\(String(describing: error))")
        #expect(error?.description.contains("the role's policy") == true)
    }
}

@Suite("instance role credentials (IMDSv2) against moto with IAM on")
struct InstanceCredentialsTests {
    var server: S3TestServer { get throws { try TestServers.moto.get() } }
    var scenarios: InstanceScenarios { get throws { InstanceScenarios(server: try server) } }

    @Test(
        """
        uploads signed with the role's temporary credentials and their session token are accepted; the admin \
        reads them
        """
    )
    func uploadsWithTheRole() throws { try scenarios.uploadsWithTheRole() }

    @Test("moto checks the session token: the same temporary keys with a wrong token are refused")
    func theSessionTokenIsChecked() throws { try scenarios.theSessionTokenIsChecked(codes: [.invalidToken]) }

    @Test("credentials are cached, and fetched again shortly before they expire")
    func credentialsRotate() throws { try scenarios.credentialsRotate() }

    @Test("a role without s3:PutObject: AccessDenied naming the role and the permission")
    func roleWithoutPutObject() throws { try scenarios.roleWithoutPutObject() }

    @Test("no metadata service: a credentials error that says so, without retrying S3")
    func noMetadataService() throws {
        let server = try server
        var configuration = server.configuration(.agent)
        configuration.credentialSource = .instanceMetadata(endpoint: "http://127.0.0.1:\(try closedLocalPort())")
        let error = #expect(throws: S3Error.self) {
            try S3Client(configuration, policy: .forTests).putObject(key: "k", bytes: [1])
        }
        #expect(error?.kind == .credentials)
        #expect(
            error?.description.contains("no instance metadata service answered") == true, "\(String(describing: error))"
        )
        #expect(error?.description.contains("works only on a cloud instance") == true)
        #expect(error?.description.contains("needed for S3 PUT of s3://\(server.bucket)/k") == true)
    }

    @Test("an instance without a role: the error says to attach an instance profile")
    func noRole() throws {
        let server = try server
        let imds = try IMDSDouble(mode: "no-role")
        let error = #expect(throws: S3Error.self) { try server.instanceClient(imds).putObject(key: "k", bytes: [1]) }
        #expect(error?.kind == .credentials)
        #expect(
            error?.description.contains("no IAM role is attached to this instance") == true,
            "\(String(describing: error))")
        #expect(error?.description.contains("attach an instance profile whose role allows s3:PutObject") == true)
    }

    @Test(
        "a metadata service without IMDSv2, or turned off: refused, never IMDSv1", arguments: ["v1-only", "disabled"])
    func noIMDSv2(mode: String) throws {
        let server = try server
        let imds = try IMDSDouble(mode: mode)
        let error = #expect(throws: S3Error.self) { try server.instanceClient(imds).putObject(key: "k", bytes: [1]) }
        #expect(error?.kind == .credentials)
        let expected = mode == "v1-only" ? "does not offer IMDSv2 session tokens" : "is turned off for this instance"
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
        #expect(
            imds.requests.allSatisfy { $0.hasPrefix("PUT /latest/api/token") },
            "no GET without a token: \(imds.requests)")
    }
}

/// radosgw's own STS (radosgw_up.sh turns it on and creates the roles): an independent check
/// of the session token. Not of a role without s3:PutObject: radosgw 16 let such a role's
/// session PUT all the same (the session keeps the permissions the assuming user has in the
/// bucket policy), so that case is tested against moto only.
@Suite(
    "instance role credentials (IMDSv2) against radosgw",
    .enabled(if: TestServers.radosgwExpected, "radosgw is not installed (CI unset)"))
struct RadosgwInstanceCredentialsTests {
    var scenarios: InstanceScenarios { get throws { InstanceScenarios(server: try TestServers.radosgw.get()) } }

    @Test("uploads signed with the role's temporary credentials are accepted; the admin reads them")
    func uploadsWithTheRole() throws { try scenarios.uploadsWithTheRole() }

    @Test("radosgw checks the session token: a wrong one is refused")
    func theSessionTokenIsChecked() throws {
        try scenarios.theSessionTokenIsChecked(codes: [
            .invalidAccessKeyId, .accessDenied, S3Error.Code(rawValue: "InvalidArgument"),
        ])
    }

    @Test("credentials are cached, and fetched again shortly before they expire")
    func credentialsRotate() throws { try scenarios.credentialsRotate() }
}

@Suite struct InstanceMetadataParsing {
    @Test("credential documents are read as flat JSON, escapes included; anything else is refused")
    func flatJSON() {
        let document =
            #"{ "Code" : "Success", "LastUpdated":"2026-11-26T02:00:00Z", "Type":"AWS-HMAC", "#
            + #""AccessKeyId":"ASIA\u0041", "SecretAccessKey":"a\/b+c\"d", "Token":"t😀\ud83d\ude00", "#
            + #""Expiration":"2026-11-26T08:00:00Z", "#
            + #""Number": -1.5e3, "Flag": true, "Null": null }"#
        let fields = FlatJSON.strings(document)
        #expect(fields?["AccessKeyId"] == "ASIAA")
        #expect(fields?["SecretAccessKey"] == "a/b+c\"d")
        #expect(fields?["Token"] == "t😀😀")
        #expect(fields?["Code"] == "Success")
        #expect(fields?["Number"] == nil)
        #expect(FlatJSON.strings("{}") == [:])
        for bad in ["", "[]", "{\"a\":}", "{\"a\":\"b\"", "{\"a\":{\"b\":1}}", "{\"a\":\"b\"} x", "{\"a\" \"b\"}"] {
            #expect(FlatJSON.strings(bad) == nil, "\(bad)")
        }
    }

    @Test("credentials are renewed five minutes before they expire, or at half their lifetime if shorter")
    func refreshRule() {
        let hour = S3Credentials(accessKey: "a", secretKey: "s", sessionToken: "t", expiration: 10_000 + 3600)
        #expect(!InstanceMetadata.needsRefresh(hour, fetchedAt: 10_000, now: 10_000 + 3299))
        #expect(InstanceMetadata.needsRefresh(hour, fetchedAt: 10_000, now: 10_000 + 3300))
        let short = S3Credentials(accessKey: "a", secretKey: "s", sessionToken: "t", expiration: 10_000 + 4)
        #expect(!InstanceMetadata.needsRefresh(short, fetchedAt: 10_000, now: 10_001))
        #expect(InstanceMetadata.needsRefresh(short, fetchedAt: 10_000, now: 10_002))
        let keys = S3Credentials(accessKey: "a", secretKey: "s")
        #expect(!InstanceMetadata.needsRefresh(keys, fetchedAt: 0, now: .max))
    }
}

import Foundation
import S3Client
import Testing

// How the integration tests find their S3 servers
// ------------------------------------------------
// Each server is described by an env-style file (S3_ENDPOINT, S3_REGION, S3_BUCKET,
// S3_ADMIN_ACCESS_KEY/SECRET_KEY, S3_AGENT_ACCESS_KEY/SECRET_KEY) written by its start script:
//   moto     scripts/s3/moto_up.py      file named by DBBACKUP_TEST_MOTO_ENV
//   radosgw  scripts/s3/radosgw_up.sh   file named by DBBACKUP_TEST_RADOSGW_ENV
// If the variable is set (scripts/s3/test-env.sh sets both, for CI), the tests use that server.
// If it is not set, the test process starts the server itself, once, on a free port, under a
// temp dir, and the script's watchdog stops it when the test process ends — so a plain
// `swift test` works on a machine where moto (and radosgw) are installed.
// A server that can neither be found nor started fails the tests that need it. The one
// exception: radosgw tests are skipped outside CI when radosgw is not installed at all;
// with CI set they fail instead.

struct S3TestServer: Sendable, CustomStringConvertible {
    let name: String
    let values: [String: String]

    var endpoint: String { values["S3_ENDPOINT"] ?? "" }
    var region: String { values["S3_REGION"] ?? "" }
    var bucket: String { values["S3_BUCKET"] ?? "" }
    var description: String { "\(name) at \(endpoint)" }

    enum Identity { case admin, agent }

    func configuration(
        _ identity: Identity, bucket: String? = nil, secret: String? = nil,
        pathStyle: Bool = true, endpoint: String? = nil
    ) -> S3Configuration {
        let prefix = identity == .admin ? "S3_ADMIN_" : "S3_AGENT_"
        return S3Configuration(
            endpoint: endpoint ?? self.endpoint, bucket: bucket ?? self.bucket, region: region,
            forcePathStyle: pathStyle, accessKey: values[prefix + "ACCESS_KEY"] ?? "",
            secretKey: secret ?? values[prefix + "SECRET_KEY"] ?? "")
    }

    func client(
        _ identity: Identity, policy: TransferPolicy = .forTests, bucket: String? = nil,
        secret: String? = nil, pathStyle: Bool = true, endpoint: String? = nil
    ) throws -> S3Client {
        try S3Client(
            configuration(identity, bucket: bucket, secret: secret, pathStyle: pathStyle, endpoint: endpoint),
            policy: policy)
    }
}

struct ServerUnavailable: Error, CustomStringConvertible {
    let description: String
}

enum TestServers {
    static let isCI = !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty

    static let moto: Result<S3TestServer, ServerUnavailable> =
        locate(
            name: "moto", variable: "DBBACKUP_TEST_MOTO_ENV", command: ["python3", TestSupport.script("moto_up.py")])

    static let radosgw: Result<S3TestServer, ServerUnavailable> =
        locate(
            name: "radosgw", variable: "DBBACKUP_TEST_RADOSGW_ENV",
            command: ["bash", TestSupport.script("radosgw_up.sh")])

    /// Whether the radosgw tests should run: in CI always (and fail if it cannot start),
    /// elsewhere when radosgw is installed or a server was named.
    static var radosgwExpected: Bool {
        isCI || ProcessInfo.processInfo.environment["DBBACKUP_TEST_RADOSGW_ENV"] != nil
            || FileManager.default.isExecutableFile(atPath: "/usr/bin/radosgw")
    }

    private static func locate(
        name: String, variable: String, command: [String]
    ) -> Result<S3TestServer, ServerUnavailable> {
        var path = ProcessInfo.processInfo.environment[variable] ?? ""
        if path.isEmpty {
            do {
                let state = try TestSupport.makeTemporaryDirectory().path
                let output = try TestSupport.run(
                    command[0], Array(command.dropFirst()) + ["0", state, "--owner-pid", String(getpid())])
                path =
                    String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    .split(separator: "\n").last.map(String.init) ?? ""
            } catch {
                return .failure(
                    ServerUnavailable(description: "\(variable) is not set and starting \(name) failed: \(error)"))
            }
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return .failure(ServerUnavailable(description: "cannot read \(name) settings from \(path) (\(variable))"))
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard values["S3_ENDPOINT"] != nil, values["S3_AGENT_SECRET_KEY"] != nil else {
            return .failure(ServerUnavailable(description: "\(path) lacks S3_ENDPOINT or keys"))
        }
        return .success(S3TestServer(name: name, values: values))
    }
}

extension TransferPolicy {
    /// Small parts and quick, few retries so failures show fast.
    static var forTests: TransferPolicy {
        TransferPolicy(
            multipartThreshold: 8 * 1024 * 1024, partSize: 5 * 1024 * 1024,
            retry: RetryPolicy(
                maxAttempts: 4, baseDelay: .milliseconds(50), maxDelay: .milliseconds(400),
                totalTimeout: .seconds(60)),
            connectTimeout: .seconds(5), lowSpeedLimit: 1024, lowSpeedTime: .seconds(10))
    }
}

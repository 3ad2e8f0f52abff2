import Foundation
import Hashing
import S3Client
import Testing

/// Retries, timeouts and stalls through scripts/s3/fault_proxy.py, a reverse proxy on
/// 127.0.0.1 in front of the real moto server that keeps the Host header (so signatures
/// verify) and injects 5xx answers, connection resets, stalls and store-then-500.
@Suite struct FaultInjectionTests {
    /// One proxy process for one test; its `requests` are "N METHOD PATH ACTION" per request seen.
    final class FaultProxy: ScriptServer {
        /// `tls`: PEM certificate and key files; the proxy then listens with TLS.
        init(upstream: S3TestServer, plan: String, tls: (certificate: String, key: String)? = nil) throws {
            guard let upstreamPort = upstream.endpoint.split(separator: ":").last.flatMap({ Int($0) }) else {
                throw ServerUnavailable(description: "no port in \(upstream.endpoint)")
            }
            try super.init(
                script: "fault_proxy.py", arguments: [String(upstreamPort), plan],
                options: tls.map { ["--tls", $0.certificate, $0.key] } ?? [], logPrefix: "fault-proxy",
                scheme: tls == nil ? "http" : "https")
        }
    }

    struct Fixture {
        let server: S3TestServer
        let directory: URL
        let source: URL
        let key: String

        init(size: Int) throws {
            server = try TestServers.moto.get()
            directory = try TestSupport.makeTemporaryDirectory()
            source = directory.appendingPathComponent("db.db")
            try TestSupport.makeFile(at: source, size: size, seed: UInt64(size) &+ 7)
            key = "faults/\(UUID().uuidString).db"
        }

        func client(through proxy: FaultProxy, policy: TransferPolicy = .forTests) throws -> S3Client {
            try server.client(.agent, policy: policy, endpoint: proxy.endpoint)
        }

        /// The admin reads the object straight from the server: it must equal the source.
        func expectStoredIntact() throws {
            let copy = directory.appendingPathComponent("copy.db")
            let got = try server.client(.admin).getObject(key: key, toFile: copy.path)
            #expect(got.sha256 == Digest.hash(.sha256, try Data(contentsOf: source)).hexString)
            try server.client(.admin).deleteObject(key: key)
        }

        /// Puts the source through a proxy that answers by `plan`, with `maxAttempts` attempts
        /// (and `lowSpeedTime`, when given): the put must fail. Returns its error, and the proxy
        /// for its log.
        func putFailing(
            plan: String, maxAttempts: Int, lowSpeedTime: Duration? = nil,
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws -> (S3Error?, FaultProxy) {
            let proxy = try FaultProxy(upstream: server, plan: plan)
            var policy = TransferPolicy.forTests
            policy.retry.maxAttempts = maxAttempts
            if let lowSpeedTime { policy.lowSpeedTime = lowSpeedTime }
            let error = #expect(throws: S3Error.self, sourceLocation: sourceLocation) {
                try client(through: proxy, policy: policy).putObject(key: key, fromFile: source.path)
            }
            return (error, proxy)
        }

        func cleanUp() { try? FileManager.default.removeItem(at: directory) }
    }

    @Test func transient5xxAndResetsAreRetried() throws {
        let fixture = try Fixture(size: 2 * 1024 * 1024)
        defer { fixture.cleanUp() }
        let proxy = try FaultProxy(upstream: fixture.server, plan: "503,500,reset,reset-body")
        let result = try fixture.client(through: proxy).putObject(key: fixture.key, fromFile: fixture.source.path)
        #expect(result.etagMatchesMD5)
        #expect(proxy.requests.map { $0.split(separator: " ").last! } == ["503", "500", "reset", "reset-body", "pass"])
        try fixture.expectStoredIntact()
    }

    @Test func storeThen500IsRetriedAndTheObjectIsFine() throws {
        let fixture = try Fixture(size: 1024 * 1024)
        defer { fixture.cleanUp() }
        let proxy = try FaultProxy(upstream: fixture.server, plan: "store-then-500")
        try fixture.client(through: proxy).putObject(key: fixture.key, fromFile: fixture.source.path)
        #expect(proxy.requests.count == 2)
        try fixture.expectStoredIntact()
    }

    @Test func multipartPartsAreRetriedOnTheirOwn() throws {
        let fixture = try Fixture(size: 11 * 1024 * 1024)
        defer { fixture.cleanUp() }
        // create passes; part 1: 503 then reset mid-body; part 2 stored then 500; part 3 and complete pass.
        let proxy = try FaultProxy(upstream: fixture.server, plan: "pass,503,reset-body,pass,store-then-500")
        let result = try fixture.client(through: proxy).putObject(key: fixture.key, fromFile: fixture.source.path)
        #expect(result.partCount == 3)
        #expect(result.etagMatchesMD5)
        #expect(proxy.requests.count == 8)
        try fixture.expectStoredIntact()
    }

    @Test func persistentFailureGivesUpAfterBoundedAttempts() throws {
        let fixture = try Fixture(size: 1000)
        defer { fixture.cleanUp() }
        let (error, proxy) = try fixture.putFailing(plan: "503*", maxAttempts: 3)
        #expect(error?.code == .slowDown)
        #expect(error?.attempts == 3)
        #expect(error?.description.contains("503 SlowDown") == true)
        #expect(error?.description.contains("gave up after 3 attempts") == true, "\(String(describing: error))")
        #expect(proxy.requests.count == 3)
    }

    @Test func aStalledServerFailsWithinTheLowSpeedTimeout() throws {
        let fixture = try Fixture(size: 1000)
        defer { fixture.cleanUp() }
        let clock = ContinuousClock()
        let start = clock.now
        let (error, _) = try fixture.putFailing(plan: "stall*", maxAttempts: 2, lowSpeedTime: .seconds(2))
        // The proxy's start, then two attempts of ~2 s each plus a short backoff; far below any hang.
        #expect(start.duration(to: clock.now) < .seconds(30))
        #expect(error?.kind == .transport)
        #expect(error?.curlCode == 28, "CURLE_OPERATION_TIMEDOUT")
        #expect(error?.attempts == 2)
    }
}

import Foundation
import S3Client
import Testing

/// Against moto in server mode with authentication on (see TestServers.swift for how it is
/// found or started). moto checks signatures and IAM policies, not payload hashes; keys stay
/// within what moto 5.2.1 verifies correctly (spaces and `~`; see the notes on moto).
@Suite struct MotoTests {
    static func scenarios() throws -> Scenarios {
        Scenarios(server: try TestServers.moto.get())
    }

    @Test func singlePutReadBackAndDelete() throws {
        try Self.scenarios().uploadReadBackDelete(size: 3 * 1024 * 1024 + 17, expectParts: 0)
    }

    @Test func emptyFile() throws {
        try Self.scenarios().uploadReadBackDelete(size: 0, expectParts: 0)
    }

    @Test func multipartReadBackAndDelete() throws {
        try Self.scenarios().uploadReadBackDelete(size: 12 * 1024 * 1024, expectParts: 3)
    }

    @Test func agentGetIsDenied() throws { try Self.scenarios().agentCannotRead() }

    @Test func wrongSecretKey() throws { try Self.scenarios().wrongSecret() }

    @Test func missingBucket() throws { try Self.scenarios().missingBucket() }

    @Test func unreachableEndpoint() throws {
        let server = try TestServers.moto.get()
        var policy = TransferPolicy.forTests
        policy.retry.maxAttempts = 2
        let endpoint = "http://127.0.0.1:\(try closedLocalPort())"
        let client = try server.client(.agent, policy: policy, endpoint: endpoint)
        let error = #expect(throws: S3Error.self) { try client.putObject(key: "k", bytes: [1]) }
        #expect(error?.kind == .transport)
        #expect(error?.isUnreachable == true)
        #expect(error?.attempts == 2)
        #expect(error?.description.contains("cannot reach the S3 endpoint \(endpoint)") == true, "\(String(describing: error))")
    }
}

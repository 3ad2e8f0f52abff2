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

    @Test("metadata and Content-Type of a single PUT come back from HEAD, GET and LIST")
    func metadataSinglePut() throws { try Self.scenarios().metadataRoundTrip(size: 1_000_003, expectParts: 0) }

    @Test("metadata and Content-Type of a multipart upload come back from HEAD, GET and LIST")
    func metadataMultipart() throws { try Self.scenarios().metadataRoundTrip(size: 11 * 1024 * 1024, expectParts: 3) }

    @Test("a listing follows continuation tokens and returns every key exactly as stored")
    func listing() throws { try Self.scenarios().listingFollowsContinuationTokens() }

    @Test("the agent may not HEAD or LIST: the errors name s3:GetObject and s3:ListBucket")
    func agentHeadAndListAreDenied() throws { try Self.scenarios().agentCannotHeadOrList() }

    @Test("metadata a store would change is refused before anything is sent")
    func unusableMetadata() throws { try Self.scenarios().unusableMetadataIsRefused() }

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

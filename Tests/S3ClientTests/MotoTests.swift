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

    @Test("SSE-S3 and STANDARD_IA, single PUT and multipart", arguments: [(0, 1_000_000), (3, 11 * 1024 * 1024)])
    func sseS3(parts: Int, size: Int) throws {
        try Self.scenarios().encryptedWithStorageClass(.s3, storageClass: "STANDARD_IA", size: size, expectParts: parts)
    }

    @Test("SSE-KMS with a key alias and GLACIER_IR, single PUT and multipart", arguments: [(0, 1_000_000), (3, 11 * 1024 * 1024)])
    func sseKMS(parts: Int, size: Int) throws {
        try Self.scenarios().encryptedWithStorageClass(.kms(keyID: "alias/dbbackup"), storageClass: "GLACIER_IR", size: size, expectParts: parts)
    }

    @Test("reading an object in GLACIER fails with InvalidObjectState and says to restore it first")
    func archivedObjectNeedsARestore() throws {
        let server = try TestServers.moto.get()
        var configuration = server.configuration(.agent)
        configuration.storageClass = "GLACIER"
        let key = "archived/\(UUID().uuidString).db"
        try S3Client(configuration, policy: .forTests).putObject(key: key, bytes: Array("archived".utf8))
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: S3Error.self) {
            try server.client(.admin).getObject(key: key, toFile: dir.appendingPathComponent("x").path)
        }
        #expect(error?.code == .invalidObjectState)
        #expect(error?.attempts == 1)
        #expect(error?.description.contains("aws s3api restore-object --bucket \(server.bucket) --key '\(key)'") == true, "\(String(describing: error))")
        #expect(try server.client(.admin).headObject(key: key).storageClass == "GLACIER")
        try server.client(.admin).deleteObject(key: key)
    }

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

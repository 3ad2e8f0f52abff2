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

    @Test func emptyFile() throws {
        try Self.scenarios().uploadReadBackDelete(size: 0, expectParts: 0)
    }

    @Test("SSE-S3 and STANDARD_IA, single PUT and multipart", arguments: [(0, 1_000_000), (3, 11 * 1024 * 1024)])
    func sseS3(parts: Int, size: Int) throws {
        try Self.scenarios().encryptedWithStorageClass(.s3, storageClass: "STANDARD_IA", size: size, expectParts: parts)
    }

    @Test(
        "SSE-KMS with a key alias and GLACIER_IR, single PUT and multipart",
        arguments: [(0, 1_000_000), (3, 11 * 1024 * 1024)])
    func sseKMS(parts: Int, size: Int) throws {
        try Self.scenarios().encryptedWithStorageClass(
            .kms(keyID: "alias/dbbackup"), storageClass: "GLACIER_IR", size: size, expectParts: parts)
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
        #expect(
            error?.description.contains("aws s3api restore-object --bucket \(server.bucket) --key '\(key)'") == true,
            "\(String(describing: error))")
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
        #expect(
            error?.description.contains("cannot reach the S3 endpoint \(endpoint)") == true,
            "\(String(describing: error))")
    }
}

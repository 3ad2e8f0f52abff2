import Foundation
import Hashing
import Testing

@testable import S3Client

/// Against Ceph radosgw, an independent C++ S3 implementation that checks signatures, bucket
/// policies, `x-amz-content-sha256` against the body and Content-MD5 (see TestServers.swift for
/// how it is found or started; skipped outside CI only when radosgw is not installed).
@Suite(.enabled(if: TestServers.radosgwExpected, "radosgw is not installed (CI unset)"))
struct RadosgwTests {
    static func scenarios() throws -> Scenarios {
        Scenarios(server: try TestServers.radosgw.get())
    }

    /// Keys moto cannot verify (its signature check decodes the path) but S3 allows.
    @Test(arguments: [
        "prefix with spaces/db_v1 +plus%percent=eq&amp@at:colon.db", "ünï/日本語/😀 db.db",
        "a/../b/./c//d~e.db",
    ])
    func unusualKeys(key: String) throws {
        try Self.scenarios().uploadReadBackDelete(size: 1000, expectParts: 0, key: key)
    }

    /// SSE-KMS through Ceph's "testing" key backend (radosgw_up.sh), and the STANDARD_IA class
    /// radosgw_up.sh adds to the placement.
    @Test("SSE-KMS and STANDARD_IA, single PUT and multipart", arguments: [(0, 1_000_000), (3, 11 * 1024 * 1024)])
    func sseKMS(parts: Int, size: Int) throws {
        try Self.scenarios().encryptedWithStorageClass(
            .kms(keyID: "testkey-1"), storageClass: "STANDARD_IA", size: size, expectParts: parts)
    }

    /// Ceph 16 has no SSE-S3: it accepts `AES256` and neither applies nor reports it.
    @Test("AES256 is accepted (Ceph 16 neither applies nor reports it) with the default class")
    func sseS3IsAcceptedButNotApplied() throws {
        try Self.scenarios().encryptedWithStorageClass(
            .s3, storageClass: "STANDARD", size: 1000, expectParts: 0, reportsEncryption: false)
    }

    @Test("a storage class the placement lacks is refused, and the error names it")
    func unknownStorageClass() throws {
        let server = try TestServers.radosgw.get()
        var configuration = server.configuration(.agent)
        configuration.storageClass = "GLACIER"
        let error = #expect(throws: S3Error.self) {
            try S3Client(configuration, policy: .forTests).putObject(key: "class/\(UUID().uuidString)", bytes: [1])
        }
        #expect(error?.httpStatus == 400)
        #expect(error?.description.contains("storage class GLACIER") == true, "\(String(describing: error))")
    }

    @Test func virtualHostedStyle() throws {
        let server = try TestServers.radosgw.get()
        // bucket.localhost is 127.0.0.1 to libcurl.
        let endpoint = server.endpoint.replacing("127.0.0.1", with: "localhost")
        let client = try server.client(.admin, pathStyle: false, endpoint: endpoint)
        #expect(client.endpoint.hostHeader.hasPrefix("\(server.bucket).localhost:"))
        let key = "virtual/\(UUID().uuidString).db"
        try client.putObject(key: key, bytes: Array("hello".utf8))
        try client.deleteObject(key: key)
    }

    /// The store rejects bytes that do not match the Content-MD5 or x-amz-content-sha256 sent,
    /// and the client does not retry that.
    @Test(arguments: [true, false])
    func damagedPayloadIsRejected(wrongMD5: Bool) throws {
        let server = try TestServers.radosgw.get()
        let client = try server.client(.agent)
        let body = Array("the real bytes".utf8)
        let other = Array("other bytes!!!".utf8)
        var call = S3Call(
            operation: "PUT", method: "PUT", key: "damaged/\(UUID().uuidString)", permission: "s3:PutObject")
        call.body = .bytes(body)
        call.payloadSHA256 = Digest.hash(.sha256, wrongMD5 ? body : other).hexString
        call.headers = [("Content-MD5", Digest.hash(.md5, wrongMD5 ? other : body).base64String)]
        let error = #expect(throws: S3Error.self) { try client.send(call, on: CurlEasy()) }
        #expect(error?.code == (wrongMD5 ? .badDigest : .contentSHA256Mismatch), "\(String(describing: error))")
        #expect(error?.attempts == 1)
        #expect(error?.description.contains("received different bytes") == true)
    }
}

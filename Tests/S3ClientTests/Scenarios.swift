import Foundation
import Hashing
import S3Client
import Testing

/// The end-to-end scenarios, run against each real server (moto, radosgw).
struct Scenarios {
    let server: S3TestServer

    func uniqueKey(_ name: String, prefix: String = "dbbackup test/") -> String {
        "\(prefix)\(name)-\(UUID().uuidString.prefix(8))~1.db"
    }

    func sha256(of url: URL) throws -> String {
        Digest.hash(.sha256, try Data(contentsOf: url)).hexString
    }

    /// Agent uploads (single or multipart), admin downloads byte-identical, agent deletes.
    func uploadReadBackDelete(size: Int, expectParts: Int, key: String? = nil) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("db_v42_20261126T020000Z.db")
        try TestSupport.makeFile(at: source, size: size, seed: UInt64(size))
        let key = key ?? uniqueKey("upload")

        let progress = Locked<[(Int64, Int64)]>([])
        let agent = try server.client(.agent)
        let put = try agent.putObject(key: key, fromFile: source.path) { sent, total in
            progress.update { $0.append((sent, total)) }
        }
        #expect(put.size == Int64(size))
        #expect(put.partCount == expectParts)
        #expect(put.sha256 == (try sha256(of: source)))
        // Ceph 16 answers CompleteMultipartUpload with an empty ETag; where there is one it must match.
        #expect(put.etagMatchesMD5 || (put.etag == nil && expectParts > 0), "ETag \(put.etag ?? "nil") of \(server)")
        let reports = progress.get()
        #expect(reports.last.map { $0.0 == Int64(size) && $0.1 == Int64(size) } ?? (size == 0))
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 <= $1.0 } || expectParts > 0)

        let copy = dir.appendingPathComponent("copy.db")
        let got = try server.client(.admin).getObject(key: key, toFile: copy.path)
        #expect(got.size == Int64(size))
        #expect(got.sha256 == put.sha256)
        #expect(try sha256(of: copy) == put.sha256)

        try agent.deleteObject(key: key)
        let gone = #expect(throws: S3Error.self) {
            try server.client(.admin).getObject(key: key, toFile: copy.path)
        }
        #expect(gone?.httpStatus == 404)
        #expect(!FileManager.default.fileExists(atPath: copy.path), "a failed download leaves no partial file")
        // Deleting a key that is not there is fine (S3 answers 204).
        try agent.deleteObject(key: key)
    }

    func agentCannotRead() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = uniqueKey("denied")
        let agent = try server.client(.agent)
        try agent.putObject(key: key, bytes: Array("probe".utf8))
        let error = #expect(throws: S3Error.self) {
            try agent.getObject(key: key, toFile: dir.appendingPathComponent("x").path)
        }
        #expect(error?.code == .accessDenied)
        #expect(error?.httpStatus == 403)
        #expect(error?.description.contains("s3:GetObject") == true, "\(String(describing: error))")
        #expect(error?.attempts == 1, "AccessDenied is not retried")
        try agent.deleteObject(key: key)
    }

    func wrongSecret() throws {
        let secret = "WRONGsecretKEYthatMustNotLeak1234567890x"
        let client = try server.client(.agent, secret: secret)
        let error = #expect(throws: S3Error.self) { try client.putObject(key: uniqueKey("wrong"), bytes: [1, 2, 3]) }
        #expect(error?.code == .signatureDoesNotMatch)
        let text = error.map { "\($0) \(String(reflecting: $0))" } ?? ""
        #expect(!text.contains(secret))
        #expect(!text.contains("Signature="))
        #expect(text.contains("secret key"), "\(text)")
    }

    func missingBucket() throws {
        let client = try server.client(.admin, bucket: "no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())")
        let error = #expect(throws: S3Error.self) { try client.putObject(key: "k", bytes: [1]) }
        #expect(error?.code == .noSuchBucket, "\(String(describing: error))")
        #expect(error?.description.contains("create it first") == true)
    }
}

/// A 127.0.0.1 port with nothing listening (bound, then closed).
func closedLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

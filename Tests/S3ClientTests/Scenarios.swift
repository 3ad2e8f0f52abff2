import Foundation
import Hashing
import S3Client
import Testing

/// The end-to-end scenarios, run against each real server (moto, radosgw): ServerScenarioTests
/// runs those both must pass alike, MotoTests and RadosgwTests the rest.
struct Scenarios {
    let server: S3TestServer

    func uniqueKey(_ name: String, prefix: String = "dbbackup test/") -> String {
        "\(prefix)\(name)-\(UUID().uuidString.prefix(8))~1.db"
    }

    /// moto 5.2.1 rejects a correctly signed query value containing '/' (boto3's own ListObjectsV2
    /// with Prefix="a/b" gets SignatureDoesNotMatch from it too), and a key with '+' (see
    /// MotoTests): listings there use prefixes without '/' and keys without '+'.
    var isMoto: Bool { server.name == "moto" }
    var folder: String { isMoto ? "-" : "/" }

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

    /// Agent uploads with user metadata and a Content-Type (single PUT, multipart, bytes);
    /// admin's HEAD, GET and LIST report them, with size, ETag, date and storage class.
    func metadataRoundTrip(size: Int, expectParts: Int) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("db.db")
        try TestSupport.makeFile(at: source, size: size, seed: UInt64(size) &+ 3)
        let key = uniqueKey("metadata", prefix: "dbbackup test\(folder)")
        let metadata = [
            "dbbackup-sha256": String(repeating: "ab", count: 32), "dbbackup-version": "42",
            "dbbackup-created-at": "2026-11-26T02:00:00Z", "registration": "nightly-1",
        ]
        let before = Int64(time(nil)) - 5
        let agent = try server.client(.agent)
        let put = try agent.putObject(
            key: key, fromFile: source.path, contentType: "application/vnd.sqlite3", metadata: metadata)
        #expect(put.partCount == expectParts)

        let admin = try server.client(.admin)
        let info = try admin.headObject(key: key)
        #expect(info.key == key)
        #expect(info.size == Int64(size))
        #expect(info.metadata == metadata, "\(server)")
        #expect(info.contentType == "application/vnd.sqlite3")
        #expect(info.storageClass == "STANDARD")
        #expect(info.etag == put.etag || put.etag == nil)
        let modified = try #require(info.lastModified, "Last-Modified is readable")
        #expect(modified >= before && modified <= Int64(time(nil)) + 5)

        let got = try admin.getObject(key: key, toFile: dir.appendingPathComponent("copy.db").path)
        #expect(got.metadata == metadata)
        #expect(got.storageClass == "STANDARD")
        #expect(got.contentType == "application/vnd.sqlite3")
        #expect(got.lastModified == info.lastModified)

        let listed = try admin.listObjects(prefix: key)
        #expect(listed.map(\.key) == [key])
        #expect(listed.first?.size == Int64(size))
        #expect(listed.first?.storageClass == "STANDARD")
        #expect(listed.first?.etag == info.etag)
        // Listings give milliseconds, HEAD whole seconds of the same moment.
        #expect(
            listed.first?.lastModified.map { abs($0 - modified) <= 1 } == true, "\(String(describing: listed.first))")

        // The bytes form carries them too.
        let small = uniqueKey("metadata-bytes")
        try agent.putObject(key: small, bytes: Array("probe".utf8), contentType: "text/plain", metadata: ["a-b": "c d"])
        let smallInfo = try admin.headObject(key: small)
        #expect(smallInfo.metadata == ["a-b": "c d"])
        #expect(smallInfo.contentType == "text/plain")
        #expect(smallInfo.size == 5)
        try agent.deleteObject(key: small)
        try agent.deleteObject(key: key)
        let gone = #expect(throws: S3Error.self) { try admin.headObject(key: key) }
        #expect(gone?.code == .noSuchKey)
        #expect(gone?.httpStatus == 404)
    }

    /// Keys listed under a prefix, page by page: every one, exactly as stored, once.
    func listingFollowsContinuationTokens() throws {
        let admin = try server.client(.admin)
        let prefix = "listing \(UUID().uuidString.prefix(8))\(folder)"
        // Spaces, '~' and (but on moto) '+' in keys of a listing that comes back URL-encoded.
        let keys =
            (1...7).map { "\(prefix)db_v\($0) \(isMoto ? "" : "+")x~\($0).db" } + ["\(prefix)sub\(folder)deeper.db"]
        for key in keys { try admin.putObject(key: key, bytes: Array(key.utf8)) }
        try admin.putObject(key: "\(prefix.dropLast())_sibling.db", bytes: [1])
        defer {
            for key in keys + ["\(prefix.dropLast())_sibling.db"] { try? admin.deleteObject(key: key) }
        }
        let listed = try admin.listObjects(prefix: prefix, pageSize: 3)
        #expect(listed.map(\.key) == keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }, "\(server)")
        #expect(listed.map(\.size) == listed.map { Int64($0.key.utf8.count) })
        #expect(try admin.listObjects(prefix: prefix + "nothing-here").isEmpty)
    }

    /// The agent's least-privilege key may neither HEAD nor LIST; the errors name the permission.
    func agentCannotHeadOrList() throws {
        let agent = try server.client(.agent)
        let key = uniqueKey("head-denied")
        try agent.putObject(key: key, bytes: Array("probe".utf8))
        defer { try? agent.deleteObject(key: key) }
        let head = #expect(throws: S3Error.self) { try agent.headObject(key: key) }
        #expect(head?.code == .accessDenied)
        #expect(
            head?.description.contains("s3:GetObject on arn:aws:s3:::\(server.bucket)/*") == true,
            "\(String(describing: head))")
        let list = #expect(throws: S3Error.self) { try agent.listObjects(prefix: "dbbackup test\(folder)") }
        #expect(list?.code == .accessDenied)
        #expect(list?.attempts == 1)
        #expect(
            list?.description.contains("s3:ListBucket on arn:aws:s3:::\(server.bucket) ") == true,
            "\(String(describing: list))")
    }

    /// Metadata a store would not keep as given is refused before anything is sent.
    func unusableMetadataIsRefused() throws {
        let agent = try server.client(.agent)
        for (metadata, words) in [
            (["Upper": "x"], "lowercase"), (["under_score": "x"], "lowercase"), (["n": "ünï"], "printable ASCII"),
            (["n": " padded"], "spaces"), (["n": ""], "empty"), (["n": "line\nbreak"], "printable ASCII"),
            (["n": String(repeating: "x", count: 2048)], "2048 bytes"),
        ] {
            let key = uniqueKey("refused")
            let error = #expect(throws: S3Error.self) { try agent.putObject(key: key, bytes: [1], metadata: metadata) }
            #expect(error?.kind == .invalidArgument)
            #expect(error?.description.contains(words) == true, "\(String(describing: error))")
            let viaAdmin = #expect(throws: S3Error.self) { try server.client(.admin).headObject(key: key) }
            #expect(viaAdmin?.code == .noSuchKey, "nothing was stored")
        }
    }

    /// The agent uploads with server-side encryption and a storage class (single PUT and
    /// multipart: the headers go on PUT and CreateMultipartUpload); the admin's HEAD shows what
    /// the store applied and GET returns the same bytes. `reportsEncryption`: radosgw 16 takes
    /// AES256 without applying or reporting it.
    func encryptedWithStorageClass(
        _ encryption: S3Configuration.ServerSideEncryption, storageClass: String,
        size: Int, expectParts: Int, reportsEncryption: Bool = true
    ) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("db.db")
        try TestSupport.makeFile(at: source, size: size, seed: UInt64(size) &+ 11)
        var configuration = server.configuration(.agent)
        configuration.serverSideEncryption = encryption
        configuration.storageClass = storageClass
        let agent = try S3Client(configuration, policy: .forTests)
        let key = uniqueKey("sse")
        let put = try agent.putObject(key: key, fromFile: source.path, contentType: "application/vnd.sqlite3")
        #expect(put.partCount == expectParts)
        let admin = try server.client(.admin)
        let info = try admin.headObject(key: key)
        #expect(info.storageClass == storageClass, "\(server)")
        #expect(info.contentType == "application/vnd.sqlite3")
        if reportsEncryption {
            #expect(info.serverSideEncryption == encryption.headerValue, "\(server)")
        }
        let got = try admin.getObject(key: key, toFile: dir.appendingPathComponent("copy.db").path)
        #expect(got.sha256 == put.sha256)
        #expect(got.storageClass == storageClass)
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
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

import Foundation
import TestKit
import Testing

@testable import S3Client

/// Differential test: for generated requests the client's signed request (URL and
/// Authorization header, through the same code path uploads use) must equal what botocore
/// produces for the same request and time (scripts/s3/botocore_sign.py, run with python3).
/// The seed is random unless DBBACKUP_TEST_SEED is set; it is printed with any failure.
@Suite struct BotocoreDifferentialTests {
    // The fields are the JSON the botocore side reads, named as botocore names them.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    struct WireRequest: Codable {
        var method: String
        var endpoint: String
        var bucket: String
        var key: String
        var force_path_style: Bool
        var region: String
        var query: [[String]]
        var headers: [[String]]
        var payload_sha256: String
        var time: Int
        var access_key: String
        var secret_key: String
        /// Temporary credentials' session token (x-amz-security-token), or nil.
        var session_token: String?
    }

    struct Signed: Codable, Equatable {
        var url: String
        var authorization: String
    }

    static let count = 600

    @Test func signerMatchesBotocore() throws {
        let seed =
            ProcessInfo.processInfo.environment["DBBACKUP_TEST_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 0...UInt64.max)
        var generator = SplitMix64(seed: seed)
        let requests = (0..<Self.count).map { _ in Self.generate(using: &generator) }

        let output = try TestSupport.run(
            "python3", [TestSupport.script("botocore_sign.py")],
            input: try JSONEncoder().encode(requests))
        let expected = try JSONDecoder().decode([Signed].self, from: output)
        try #require(expected.count == requests.count)

        var failures = 0
        for (request, botocore) in zip(requests, expected) {
            let ours = try Self.sign(request)
            if ours != botocore {
                failures += 1
                if failures <= 5 {
                    let what =
                        """
                        \(request.method) key \(request.key.debugDescription) query \(request.query) headers \
                        \(request.headers)
                        """
                    Issue.record(
                        """
                        seed \(seed) (DBBACKUP_TEST_SEED=\(seed) reproduces): \(what)\n ours:     \(ours)\n \
                        botocore: \(botocore)
                        """
                    )
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(requests.count) requests differ from botocore (seed \(seed))")
    }

    /// Signs through `S3Client.request(for:at:)`, the path every real request takes.
    static func sign(_ request: WireRequest) throws -> Signed {
        let client = try S3Client(
            S3Configuration(
                endpoint: request.endpoint, bucket: request.bucket, region: request.region,
                forcePathStyle: request.force_path_style, accessKey: request.access_key, secretKey: request.secret_key,
                sessionToken: request.session_token))
        var call = S3Call(operation: request.method, method: request.method, key: request.key, permission: "")
        call.query = request.query.map { QueryItem($0[0], $0[1]) }
        call.headers = request.headers.map { (name: $0[0], value: $0[1]) }
        call.payloadSHA256 = request.payload_sha256
        let signed = client.request(for: call, at: request.time, credentials: try client.currentCredentials())
        return Signed(url: signed.url, authorization: signed.headers.first { $0.name == "Authorization" }?.value ?? "")
    }

    static func generate(using generator: inout SplitMix64) -> WireRequest {
        func pick<T>(_ options: [T]) -> T { options.randomElement(using: &generator)! }
        func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &generator) < percent }
        func text(_ alphabet: [String], _ lengths: ClosedRange<Int>) -> String {
            (0..<Int.random(in: lengths, using: &generator)).map { _ in pick(alphabet) }.joined()
        }
        let keyAlphabet = [
            "a", "b", "Z", "0", "9", "-", "_", ".", "~", " ", "+", "%", "=", "/", "&", "?", "#", "@",
            ":", "!", "*", "'", "(", ")", "$", ",", ";", "[", "]", "é", "日本", "😀", "ß", "\u{301}",
        ]
        let fileName =
            "db_v\(Int.random(in: 0...500, using: &generator))_20261126T020000Z" + text(keyAlphabet, 0...8) + ".db"
        let prefix = chance(50) ? text(keyAlphabet, 1...12) + pick(["/", "", "//"]) : ""
        let key = chance(3) ? "" : prefix + fileName
        let (endpoint, region) = pick([
            ("", pick(["", "us-east-1", "eu-central-1", "ap-southeast-2"])),
            ("http://127.0.0.1:\(Int.random(in: 1024...65535, using: &generator))", pick(["", "us-east-1"])),
            ("http://localhost:7480", ""),
            ("http://minio-host:9000", pick(["", "us-east-1"])),
            ("https://nyc3.digitaloceanspaces.com", pick(["", "nyc3"])),
            ("https://s3.us-west-004.backblazeb2.com", "us-west-004"),
            ("https://storage.example.com:8443/s3", "eu-west-1"),
            ("HTTP://Example.COM:80", ""),
        ])
        let queryNames = [
            "uploads", "uploadId", "partNumber", "versionId", "prefix", "max-keys", "delimiter",
            "list-type", "x-id", "tagging", "acl", "response-content-type", "a b", "ä", "A", "Z",
        ]
        var query: [[String]] = []
        for name in queryNames.shuffled(using: &generator).prefix(Int.random(in: 0...4, using: &generator)) {
            query.append([name, chance(30) ? "" : text(keyAlphabet, 1...10)])
        }
        var headers: [[String]] = []
        if chance(60) { headers.append([pick(["Content-MD5", "content-md5"]), "1B2M2Y8AsgTpgAmY7PhCfg=="]) }
        if chance(40) {
            headers.append([
                "Content-Type", pick(["application/octet-stream", "application/xml", "text/plain; charset=utf-8"]),
            ])
        }
        if chance(30) { headers.append(["x-amz-meta-Note", pick(["  two  spaces  ", "a\tb", "plain", "x   y"])]) }
        if chance(20) {
            headers.append([
                pick(["X-Amz-Storage-Class", "x-amz-storage-class"]),
                pick(["STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"]),
            ])
        }
        // Server-side encryption as uploads send it: SSE-S3, or SSE-KMS with a key id, ARN or alias.
        if chance(30) {
            let kms = chance(50)
            headers.append(["x-amz-server-side-encryption", kms ? "aws:kms" : "AES256"])
            if kms && chance(70) {
                headers.append([
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    pick([
                        "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/dbbackup-key",
                        "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    ]),
                ])
            }
        }
        if chance(20) { headers.append(["Range", "bytes=0-\(Int.random(in: 1...1000, using: &generator))"]) }
        let hexDigits = Array("0123456789abcdef")
        let payload =
            chance(30)
            ? SignableRequest.emptyPayloadSHA256
            : String((0..<64).map { _ in pick(hexDigits) })
        return WireRequest(
            method: pick(["PUT", "GET", "DELETE", "POST", "HEAD"]),
            endpoint: endpoint,
            bucket: pick(["my-bucket", "backups", "db.backups", "a1b2c3", "Upper_Case", "xn--bcher-kva"]),
            key: key,
            force_path_style: chance(50),
            region: region,
            query: query,
            headers: headers,
            payload_sha256: payload,
            time: Int.random(in: 946_684_800...4_102_444_800, using: &generator),
            access_key: pick(["AKIAIOSFODNN7EXAMPLE", "agent", "minioadmin", "ASIAIOSFODNN7EXAMPLE"]),
            secret_key: text(["a", "B", "3", "/", "+", "="], 8...40),
            // STS session tokens are long base64 text.
            session_token: chance(40) ? text(["A", "z", "0", "9", "/", "+", "="], 16...900) : nil
        )
    }
}

import Foundation
import Hashing
import TestKit
import Testing

@testable import S3Client

/// AWS's published S3 SigV4 examples (the four in "Examples: Signature Calculations in AWS
/// Signature Version 4" for the examplebucket, also reproduced with botocore here).
@Suite struct AWSPublishedExamples {
    let signer = SigV4Signer(
        accessKey: "AKIAIOSFODNN7EXAMPLE",
        secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    let date = 1_369_353_600  // 20130524T000000Z
    let host = ("host", "examplebucket.s3.amazonaws.com")

    func signature(_ request: SignableRequest) -> String {
        let authorization = signer.sign(request, at: date).first { $0.name == "Authorization" }!.value
        return String(authorization.split(separator: "=").last!)
    }

    @Test func getObjectWithRange() {
        let request = SignableRequest(
            method: "GET", encodedPath: "/test.txt",
            headers: [host, ("Range", "bytes=0-9")],
            payloadSHA256: SignableRequest.emptyPayloadSHA256)
        #expect(signature(request) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func getBucketLifecycle() {
        let request = SignableRequest(
            method: "GET", encodedPath: "/", query: [QueryItem("lifecycle")],
            headers: [host], payloadSHA256: SignableRequest.emptyPayloadSHA256)
        #expect(signature(request) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjects() {
        let request = SignableRequest(
            method: "GET", encodedPath: "/",
            query: [QueryItem("prefix", "J"), QueryItem("max-keys", "2")],
            headers: [host], payloadSHA256: SignableRequest.emptyPayloadSHA256)
        #expect(signature(request) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func putObject() throws {
        let body = Array("Welcome to Amazon S3.".utf8)
        let endpoint = try S3Endpoint(
            S3Configuration(
                endpoint: "https://s3.amazonaws.com", bucket: "examplebucket",
                accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "x"))
        let request = SignableRequest(
            method: "PUT", encodedPath: endpoint.encodedPath(forKey: "test$file.text"),
            headers: [
                host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            payloadSHA256: Digest.hash(.sha256, body).hexString)
        #expect(endpoint.encodedPath(forKey: "test$file.text") == "/test%24file.text")
        #expect(endpoint.hostHeader == "examplebucket.s3.amazonaws.com")
        #expect(signature(request) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }
}

@Suite struct AddressingAndEncoding {
    func endpoint(
        _ url: String, bucket: String = "my-bucket", region: String = "", pathStyle: Bool = false
    ) throws -> S3Endpoint {
        try S3Endpoint(
            S3Configuration(
                endpoint: url, bucket: bucket, region: region, forcePathStyle: pathStyle,
                accessKey: "a", secretKey: "s"))
    }

    @Test func awsDefaultIsVirtualHostedInTheRegion() throws {
        let aws = try endpoint("", region: "eu-central-1")
        #expect(
            aws.url(forKey: "db/db_v1.db", query: []) == "https://my-bucket.s3.eu-central-1.amazonaws.com/db/db_v1.db")
        #expect(try endpoint("").hostHeader == "my-bucket.s3.us-east-1.amazonaws.com")
    }

    @Test func customEndpointsAndPathStyle() throws {
        #expect(
            try endpoint("http://minio-host:9000", pathStyle: true).url(forKey: "k", query: [QueryItem("uploads")])
                == "http://minio-host:9000/my-bucket/k?uploads=")
        #expect(try endpoint("http://localhost:7480").hostHeader == "my-bucket.localhost:7480")
        #expect(
            try endpoint("https://nyc3.digitaloceanspaces.com:443").hostHeader
                == "my-bucket.nyc3.digitaloceanspaces.com")
        #expect(try endpoint("http://127.0.0.1:9000").usesPathStyle)  // an IP address cannot carry the bucket
        #expect(try endpoint("https://s3.example.com", bucket: "with.dots").usesPathStyle)
        #expect(try endpoint("s3.example.com").scheme == "https")
        #expect(throws: S3Error.self) { try endpoint("ftp://x") }
        #expect(throws: S3Error.self) { try endpoint("http://host:99999") }
    }

    @Test func keysAreEncodedOnceKeepingSlashes() throws {
        let path = try endpoint("http://h", pathStyle: true).encodedPath(forKey: "a b/c+d%e=f~g/日本.db")
        #expect(path == "/my-bucket/a%20b/c%2Bd%25e%3Df~g/%E6%97%A5%E6%9C%AC.db")
    }

    @Test func canonicalQuerySortsEncodedNamesThenValues() {
        let query = [
            QueryItem("uploadId", "a+b"), QueryItem("partNumber", "2"), QueryItem("acl"), QueryItem("a", "b c"),
        ]
        #expect(query.canonicalQueryString == "a=b%20c&acl=&partNumber=2&uploadId=a%2Bb")
    }

    @Test func secretIsMaskedInDescriptions() {
        let config = S3Configuration(bucket: "b", accessKey: "AK", secretKey: "verysecretvalue")
        for text in [
            config.description, String(reflecting: config), "\(config)",
            {
                var s = ""
                dump(config, to: &s)
                return s
            }(),
        ] {
            #expect(!text.contains("verysecretvalue"))
            #expect(text.contains("very****"))
        }
        #expect(S3Configuration.maskedSecret("abcd") == "****")
        #expect(S3Configuration.maskedSecret("abcdefg") == "****")
        #expect(S3Configuration.maskedSecret("abcdefgh") == "abcd****")
        #expect(S3Configuration.maskedSecret("") == "****")
    }

    @Test func partSizeGrowsToStayWithin10000Parts() {
        let policy = TransferPolicy(partSize: 5 * 1024 * 1024)
        let huge: Int64 = 100 * 1024 * 1024 * 1024
        let part = policy.effectivePartSize(forFileSize: huge)
        #expect((huge + part - 1) / part <= 10_000)
        #expect(part % (1024 * 1024) == 0)
        #expect(TransferPolicy(partSize: 1).effectivePartSize(forFileSize: 10) == TransferPolicy.minimumPartSize)
    }

    @Test func backoffCeilingGrowsExponentiallyUpToTheMaximum() {
        let retry = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(retry.backoffCeiling(afterAttempt: 1) == .milliseconds(100))
        #expect(retry.backoffCeiling(afterAttempt: 3) == .milliseconds(400))
        #expect(retry.backoffCeiling(afterAttempt: 9) == .seconds(1))
        var generator = SplitMix64(seed: 1)
        for attempt in 1...9 {
            let delay = retry.jitteredDelay(afterAttempt: attempt, using: &generator)
            #expect(delay >= .zero && delay <= retry.backoffCeiling(afterAttempt: attempt))
        }
    }

    @Test func s3ErrorDocumentsAreParsed() {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist &amp; never \
            did</Message></Error>
            """
        #expect(S3XML.isErrorDocument(body))
        #expect(S3XML.firstText(of: "Code", in: body) == "NoSuchBucket")
        #expect(S3XML.firstText(of: "Message", in: body) == "The specified bucket does not exist & never did")
        #expect(!S3XML.isErrorDocument("<?xml version=\"1.0\"?><CompleteMultipartUploadResult/>"))
    }
}

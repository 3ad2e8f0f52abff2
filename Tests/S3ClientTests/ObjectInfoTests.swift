@testable import S3Client
import Testing

/// Reading what stores answer: dates in both S3 formats, listings (URL-encoded or not),
/// response headers of HEAD and GET.
@Suite struct ObjectInfoParsing {
    @Test("HTTP dates and ISO 8601 dates read as seconds since 1970")
    func dates() {
        #expect(HTTPDate.parse("Wed, 21 Oct 2015 07:28:00 GMT") == 1_445_412_480)
        #expect(HTTPDate.parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(HTTPDate.parseISO8601("2015-10-21T07:28:00.000Z") == 1_445_412_480)
        #expect(HTTPDate.parseISO8601("2015-10-21T07:28:00Z") == 1_445_412_480)
        #expect(HTTPDate.parseISO8601("2015-10-21T07:28:00.123456Z") == 1_445_412_480)
        for bad in ["", "Wed, 21 Oct 2015 07:28:00 CET", "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Okt 2015 07:28:00 GMT"] {
            #expect(HTTPDate.parse(bad) == nil, "\(bad)")
        }
        for bad in ["2015-10-21 07:28:00Z", "2015-13-21T07:28:00Z", "2015-10-21T07:28:00+01:00", "2015-10-21T07:28:00.Z1"] {
            #expect(HTTPDate.parseISO8601(bad) == nil, "\(bad)")
        }
    }

    @Test("a URL-encoded listing page decodes keys (a '+' is a space, %2B a plus) and reads its token")
    func encodedPage() {
        let page = ListPage("""
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p%2F</Prefix>
        <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
        <Contents><Key>p/db_v1+%2Bx%7E%F0%9F%98%80.db</Key><LastModified>2026-11-26T02:00:01.000Z</LastModified>
        <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size><StorageClass>STANDARD_IA</StorageClass></Contents>
        <Contents><Key>p/a%26b</Key><LastModified>2026-11-26T02:00:02.000Z</LastModified><ETag>"abc-3"</ETag><Size>0</Size></Contents>
        <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>
        """)
        #expect(page.objects.map(\.key) == ["p/db_v1 +x~😀.db", "p/a&b"])
        #expect(page.objects.map(\.size) == [1234, 0])
        #expect(page.objects.map(\.etag) == ["9b2cf535f27731c974343645a3985328", "abc-3"])
        #expect(page.objects.map(\.storageClass) == ["STANDARD_IA", "STANDARD"])
        #expect(page.objects.map(\.lastModified) == [1_795_658_401, 1_795_658_402])
        #expect(page.isTruncated)
        #expect(page.nextToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    }

    @Test("a store that ignores encoding-type sends plain keys, which stay as they are")
    func plainPage() {
        let page = ListPage("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%20c &amp; d</Key><Size>1</Size></Contents></ListBucketResult>")
        #expect(page.objects.map(\.key) == ["a+b%20c & d"])
        #expect(!page.isTruncated)
        #expect(page.nextToken == nil)
    }

    @Test("response headers give size, ETag, date, storage class and metadata without the prefix")
    func headers() {
        let info = ObjectInfo(key: "k", headers: [
            "content-length": "77", "etag": "\"d41d8cd98f00b204e9800998ecf8427e\"", "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT",
            "x-amz-storage-class": "GLACIER", "content-type": "application/vnd.sqlite3", "x-amz-server-side-encryption": "aws:kms",
            "x-amz-meta-dbbackup-version": "42", "x-amz-meta-": "ignored", "x-amz-restore": "ongoing-request=\"true\"",
        ])
        #expect(info == ObjectInfo(key: "k", size: 77, etag: "d41d8cd98f00b204e9800998ecf8427e", lastModified: 1_445_412_480,
                                   storageClass: "GLACIER", contentType: "application/vnd.sqlite3", serverSideEncryption: "aws:kms",
                                   metadata: ["dbbackup-version": "42"], restore: "ongoing-request=\"true\""))
        #expect(ObjectInfo(key: "k", headers: [:]).storageClass == "STANDARD")
    }

    @Test("metadata names and values that a store would change are refused, with the reason")
    func metadataRules() throws {
        #expect(ObjectMetadata.problem(name: "dbbackup-sha256", value: "ab12") == nil)
        #expect(ObjectMetadata.problem(name: "n", value: "a b=c/d+e:f") == nil)
        #expect(ObjectMetadata.problem(name: "Name", value: "x")?.contains("lowercase") == true)
        #expect(ObjectMetadata.problem(name: "a b", value: "x")?.contains("lowercase") == true)
        #expect(ObjectMetadata.problem(name: "", value: "x")?.contains("empty") == true)
        #expect(ObjectMetadata.problem(name: "n", value: "tab\there")?.contains("printable") == true)
        #expect(ObjectMetadata.problem(name: "n", value: "two  spaces")?.contains("doubled") == true)
        let headers = try ObjectMetadata.headers(["b": "2", "a": "1"], operation: "PUT", bucket: "b", key: "k")
        #expect(headers.map(\.name) == ["x-amz-meta-a", "x-amz-meta-b"])
        #expect(throws: S3Error.self) {
            try ObjectMetadata.headers(["a": String(repeating: "x", count: 1024), "b": String(repeating: "y", count: 1023)],
                                       operation: "PUT", bucket: "b", key: "k")
        }
    }
}

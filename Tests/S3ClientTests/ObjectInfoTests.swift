import Testing

@testable import S3Client

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
        for bad in [
            "", "Wed, 21 Oct 2015 07:28:00 CET", "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Okt 2015 07:28:00 GMT",
        ] {
            #expect(HTTPDate.parse(bad) == nil, "\(bad)")
        }
        for bad in [
            "2015-10-21 07:28:00Z", "2015-13-21T07:28:00Z", "2015-10-21T07:28:00+01:00", "2015-10-21T07:28:00.Z1",
        ] {
            #expect(HTTPDate.parseISO8601(bad) == nil, "\(bad)")
        }
    }

    @Test("a URL-encoded listing page decodes keys (a '+' is a space, %2B a plus) and reads its token")
    func encodedPage() {
        let page = ListPage(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p%2F</Prefix>
            <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
            <Contents><Key>p/db_v1+%2Bx%7E%F0%9F%98%80.db</Key><LastModified>2026-11-26T02:00:01.000Z</LastModified>
            <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>\
            <StorageClass>STANDARD_IA</StorageClass></Contents>
            <Contents><Key>p/a%26b</Key><LastModified>2026-11-26T02:00:02.000Z</LastModified>\
            <ETag>"abc-3"</ETag><Size>0</Size></Contents>
            <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\
            </ListBucketResult>
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
        let page = ListPage(
            """
            <ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%20c &amp; \
            d</Key><Size>1</Size></Contents></ListBucketResult>
            """
        )
        #expect(page.objects.map(\.key) == ["a+b%20c & d"])
        #expect(!page.isTruncated)
        #expect(page.nextToken == nil)
    }

    @Test("response headers give size, ETag, date, storage class and metadata without the prefix")
    func headers() {
        let info = ObjectInfo(
            key: "k",
            headers: [
                "content-length": "77", "etag": "\"d41d8cd98f00b204e9800998ecf8427e\"",
                "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT",
                "x-amz-storage-class": "GLACIER", "content-type": "application/vnd.sqlite3",
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-meta-dbbackup-version": "42", "x-amz-meta-": "ignored",
                "x-amz-restore": "ongoing-request=\"true\"",
            ])
        #expect(
            info
                == ObjectInfo(
                    key: "k", size: 77, etag: "d41d8cd98f00b204e9800998ecf8427e", lastModified: 1_445_412_480,
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
            try ObjectMetadata.headers(
                ["a": String(repeating: "x", count: 1024), "b": String(repeating: "y", count: 1023)],
                operation: "PUT", bucket: "b", key: "k")
        }
    }
}

/// Answers of AWS S3 to a request for a bucket in another region, in the shapes AWS sends
/// them (no S3 server here has regions that disagree, so these are parsed from text).
@Suite struct WrongRegionAnswers {
    let client = try! S3Client(
        S3Configuration(bucket: "app-backups", region: "us-east-1", accessKey: "AKIAEXAMPLE", secretKey: "secret"))
    let call = S3Call(operation: "PUT", method: "PUT", key: "db.db", permission: "s3:PutObject")

    func error(status: Int, headers: [String: String] = [:], body: String) -> S3Error {
        var error = client.serverError(
            call, HTTPResponse(status: status, headers: headers, body: Array(body.utf8), fileBytes: 0, fileSHA256: nil))
        error.endpoint = client.configuration.endpoint
        return error
    }

    @Test("301 PermanentRedirect names the region in a header and the endpoint in the body")
    func permanentRedirect() {
        let error = error(
            status: 301, headers: ["x-amz-bucket-region": "eu-west-1"],
            body: """
                <?xml version="1.0" encoding="UTF-8"?>
                <Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be \
                addressed using the specified endpoint. Please send all future requests to this \
                endpoint.</Message><Endpoint>app-backups.s3.eu-west-1.amazonaws.com</Endpoint>\
                <Bucket>app-backups</Bucket><RequestId>4Y1X9Z</RequestId><HostId>abc=</HostId></Error>
                """)
        #expect(error.bucketRegion == "eu-west-1")
        #expect(error.description.contains("give --region eu-west-1"), "\(error)")
        #expect(!error.isTransient)
        // Without the header, the body's endpoint tells.
        let bodyOnly = self.error(
            status: 301,
            body:
                "<Error><Code>PermanentRedirect</Code>"
                + "<Endpoint>app-backups.s3.dualstack.ap-southeast-2.amazonaws.com</Endpoint></Error>"
        )
        #expect(bodyOnly.bucketRegion == "ap-southeast-2")
        // A HEAD's 301 has no body at all.
        #expect(
            self.error(status: 301, headers: ["x-amz-bucket-region": "sa-east-1"], body: "").bucketRegion == "sa-east-1"
        )
    }

    @Test("400 AuthorizationHeaderMalformed: the expected region from <Region> or from the message")
    func authorizationHeaderMalformed() {
        let error = error(
            status: 400,
            body: """
                <Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the \
                region 'us-east-1' is wrong; expecting \
                'eu-central-1'</Message><Region>eu-central-1</Region><RequestId>R</RequestId></Error>
                """)
        #expect(error.bucketRegion == "eu-central-1")
        #expect(
            error.description.contains("bucket 'app-backups' is in region eu-central-1: give --region eu-central-1"),
            "\(error)")
        let messageOnly = self.error(
            status: 400,
            body:
                """
                <Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; \
                expecting 'us-west-2'</Message></Error>
                """
        )
        #expect(messageOnly.bucketRegion == "us-west-2")
    }

    @Test("other errors and the configured region itself give no region hint")
    func noHint() {
        #expect(
            error(
                status: 403,
                body:
                    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><Region>eu-west-1</Region></Error>"
            ).bucketRegion == nil)
        #expect(error(status: 301, headers: ["x-amz-bucket-region": "us-east-1"], body: "").bucketRegion == nil)
        #expect(BucketRegion.region(ofAWSHost: "bucket.s3.amazonaws.com") == "us-east-1")
        #expect(BucketRegion.region(ofAWSHost: "s3-eu-west-1.amazonaws.com") == "eu-west-1")
        #expect(BucketRegion.region(ofAWSHost: "minio.example.com") == nil)
    }
}

@Suite struct BucketNames {
    @Test(
        """
        legacy names (uppercase, '_', longer than 63) are accepted and go path-style; names invalid everywhere \
        are refused
        """
    )
    func legacyNames() throws {
        for legacy in [
            "My_Backups", "UPPERCASE", "a-" + String(repeating: "b", count: 70), "ends-with-dash-", "two..dots",
        ] {
            #expect(S3BucketName.problem(legacy) == nil, "\(legacy)")
            #expect(S3BucketName.isLegacy(legacy), "\(legacy)")
            let endpoint = try S3Endpoint(
                S3Configuration(bucket: legacy, region: "us-east-1", accessKey: "a", secretKey: "s"))
            #expect(endpoint.usesPathStyle, "\(legacy)")
            #expect(endpoint.hostHeader == "s3.us-east-1.amazonaws.com")
        }
        for modern in ["app-backups", "db.backups.example", "a1b"] {
            #expect(!S3BucketName.isLegacy(modern) && S3BucketName.problem(modern) == nil)
        }
        for invalid in ["ab", "has space", "slash/inside", "ünï", String(repeating: "x", count: 256), "colon:x"] {
            #expect(S3BucketName.problem(invalid) != nil, "\(invalid)")
            let error = #expect(throws: S3Error.self) {
                try S3Client(S3Configuration(bucket: invalid, accessKey: "a", secretKey: "s"))
            }
            #expect(error?.kind == .invalidConfiguration)
        }
    }
}

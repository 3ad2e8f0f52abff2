import Glibc
import Hashing
import SystemCalls

/// A synchronous S3 client for one bucket: streamed single and multipart uploads, downloads
/// and deletes, SigV4-signed, with retries. Each call blocks the calling thread; calls on one
/// client may run on several threads at once (each uses its own libcurl handle).
///
/// Permissions needed: `s3:PutObject` (single and multipart uploads), `s3:DeleteObject`,
/// `s3:GetObject` for `getObject` and `headObject` only, `s3:ListBucket` for `listObjects` only.
/// A failed multipart upload is aborted when the key also has `s3:AbortMultipartUpload`;
/// otherwise it is left for a bucket lifecycle rule to expire.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    public let policy: TransferPolicy
    public let endpoint: S3Endpoint
    let credentialProvider: CredentialProvider

    /// Throws `S3Error` of kind `.invalidConfiguration` for an unusable endpoint, a bucket name
    /// that is invalid everywhere, or a storage class or KMS key id that cannot be a header.
    /// Nothing is sent: instance credentials are fetched with the first request.
    public init(_ configuration: S3Configuration, policy: TransferPolicy = TransferPolicy()) throws(S3Error) {
        self.configuration = configuration
        self.policy = policy
        self.endpoint = try S3Endpoint(configuration)
        for (what, value) in [("storage class", configuration.storageClass), ("KMS key id", configuration.kmsKeyID)] {
            guard let value else { continue }
            guard !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 <= 0x7e }) else {
                throw S3Error(
                    kind: .invalidConfiguration, operation: "configure", bucket: configuration.bucket, key: "",
                    message: "the \(what) '\(value)' is empty or has spaces or characters other than printable ASCII")
            }
        }
        self.credentialProvider = CredentialProvider(configuration, policy: policy)
        CurlGlobal.ensureInitialized()
    }

    /// The credentials the next request will be signed with: the configured keys, or the
    /// instance role's current temporary credentials (fetched now if none are cached).
    /// For a check before a long operation, e.g. `registration test`.
    public func currentCredentials() throws(S3Error) -> S3Credentials {
        try credentialProvider.credentials()
    }

    /// Who the store sees these requests from, for messages: "the instance role NAME" with
    /// instance credentials (once fetched), nil for configured keys.
    public var principal: String? { credentialProvider.principal }

    /// Deletes `key`. Succeeds also when the key does not exist (S3 answers 204 either way;
    /// a store that answers 404 NoSuchKey counts as success too). `retry` replaces the
    /// policy's for this call.
    public func deleteObject(key: String, retry: RetryPolicy? = nil) throws(S3Error) {
        let call = S3Call(operation: "DELETE", method: "DELETE", key: key, permission: "s3:DeleteObject")
        do {
            _ = try send(call, on: CurlEasy(), retry: retry)
        } catch  where error.code == .noSuchKey {
            return
        }
    }

    /// Downloads `key` into the file at `path` (created or truncated, mode 0600, fsynced),
    /// streaming, hashing on the way. On failure the partial file is removed. The result also
    /// carries what the response headers say about the object (metadata, storage class…).
    /// Needs `s3:GetObject`.
    @discardableResult
    public func getObject(
        key: String, toFile path: String,
        progress: ((_ received: Int64, _ total: Int64) -> Void)? = nil
    ) throws(S3Error) -> GetResult {
        let file: LocalFile
        do { file = try LocalFile.openForWriting(path) } catch { throw localError(error, operation: "GET", key: key) }
        do throws(S3Error) {
            var call = S3Call(operation: "GET", method: "GET", key: key, permission: "s3:GetObject")
            call.sink = .file(descriptor: file.descriptor)
            call.beforeAttempt = { () throws(LocalFileError) in try file.truncate() }
            let response = try send(call, on: CurlEasy(), progress: progress)
            do { try file.sync() } catch { throw localError(error, operation: "GET", key: key) }
            let info = ObjectInfo(key: key, headers: response.headers, size: response.fileBytes)
            return GetResult(
                key: key, size: response.fileBytes, sha256: (response.fileSHA256 ?? []).hexString,
                etag: response.etag, lastModified: info.lastModified, storageClass: info.storageClass,
                contentType: info.contentType, metadata: info.metadata)
        } catch {
            try? FileSystem.unlinkIfPresent(path)
            throw error
        }
    }

    /// Uploads the file at `path` as `key`: a single PUT up to `policy.multipartThreshold`,
    /// multipart above it. Reads the file once to compute SHA-256 and MD5 (sent as
    /// `x-amz-content-sha256` and `Content-MD5`, so the store rejects damaged bytes), then
    /// streams it; memory use does not grow with the file's size.
    ///
    /// `knownDigests`: the file's SHA-256 and MD5 when the caller has them already (the snapshot
    /// computed them while SQLite verified it), which saves a read of the whole file. They
    /// must be of this very file: the store rejects the upload otherwise.
    ///
    /// `contentType` is sent as the object's Content-Type (the store's default, usually
    /// `binary/octet-stream`, when nil). `metadata` becomes signed `x-amz-meta-NAME` headers,
    /// stored with the object and returned by `headObject` and `getObject`; entries that a
    /// store would not keep exactly (see `ObjectMetadata`) are refused with `.invalidArgument`
    /// before anything is sent. Needs `s3:PutObject`.
    @discardableResult
    public func putObject(
        key: String, fromFile path: String, knownDigests: FileDigests? = nil,
        contentType: String? = nil, metadata: [String: String] = [:],
        progress: ((_ sent: Int64, _ total: Int64) -> Void)? = nil
    ) throws(S3Error) -> PutResult {
        let objectHeaders = try self.objectHeaders(
            contentType: contentType, metadata: metadata, operation: "PUT", key: key)
        let file: LocalFile
        let size: Int64
        do {
            file = try LocalFile.openForReading(path)
            size = try file.size()
        } catch {
            throw localError(error, operation: "PUT", key: key)
        }
        if policy.usesMultipart(forFileSize: size) {
            return try MultipartUpload(
                client: self, key: key, file: file, size: size, progress: progress,
                objectHeaders: objectHeaders, knownDigests: knownDigests
            ).run()
        }
        let digests: RangeDigests
        do { digests = try RangeDigests(wholeFile: file, size: size, known: knownDigests) } catch {
            throw localError(error, operation: "PUT", key: key)
        }
        return try putSingle(
            key: key, body: .file(descriptor: file.descriptor, offset: 0, length: size),
            digests: digests, objectHeaders: objectHeaders, progress: progress)
    }

    /// Uploads a small in-memory object with a single PUT (e.g. a connectivity probe).
    /// `contentType` and `metadata` as for the file form. Needs `s3:PutObject`.
    @discardableResult
    public func putObject(
        key: String, bytes: [UInt8], contentType: String? = nil,
        metadata: [String: String] = [:]
    ) throws(S3Error) -> PutResult {
        let objectHeaders = try self.objectHeaders(
            contentType: contentType, metadata: metadata, operation: "PUT", key: key)
        return try putSingle(
            key: key, body: .bytes(bytes), digests: RangeDigests(bytes: bytes), objectHeaders: objectHeaders,
            progress: nil)
    }

    /// What the object is stored with, sent on a single PUT and on CreateMultipartUpload (never
    /// on UploadPart, which S3 refuses with SSE headers): metadata, Content-Type, and the
    /// configuration's server-side encryption and storage class.
    func objectHeaders(
        contentType: String?, metadata: [String: String], operation: String,
        key: String
    ) throws(S3Error) -> [(name: String, value: String)] {
        var headers = try ObjectMetadata.headers(metadata, operation: operation, bucket: configuration.bucket, key: key)
        if let encryption = configuration.serverSideEncryption {
            headers.append((name: "x-amz-server-side-encryption", value: encryption.headerValue))
            if case .kms(let keyID?) = encryption {
                headers.append((name: "x-amz-server-side-encryption-aws-kms-key-id", value: keyID))
            }
        }
        if let storageClass = configuration.storageClass {
            headers.append((name: "x-amz-storage-class", value: storageClass))
        }
        if let contentType {
            guard !contentType.isEmpty, contentType.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) else {
                throw S3Error(
                    kind: .invalidArgument, operation: operation, bucket: configuration.bucket, key: key,
                    message: "the Content-Type '\(contentType)' is empty or not printable ASCII")
            }
            headers.append((name: "Content-Type", value: contentType))
        }
        return headers
    }

    private func putSingle(
        key: String, body: RequestBody, digests: RangeDigests, objectHeaders: [(name: String, value: String)],
        progress: ((Int64, Int64) -> Void)?
    ) throws(S3Error) -> PutResult {
        var call = S3Call(operation: "PUT", method: "PUT", key: key, permission: "s3:PutObject")
        call.body = body
        call.payloadSHA256 = digests.sha256.hexString
        call.headers = [("Content-MD5", digests.md5.base64String)] + objectHeaders
        let total = body.length
        let response = try send(
            call, on: CurlEasy(), progress: progress.map { report in { sent, _ in report(sent, total) } })
        let etag = response.etag
        return PutResult(
            key: key, size: total, sha256: digests.sha256.hexString, md5: digests.md5.hexString,
            etag: etag, partCount: 0, etagMatchesMD5: etag == digests.md5.hexString)
    }

    /// The object's size, ETag, Last-Modified, storage class, Content-Type, encryption and user
    /// metadata, without its bytes (HEAD). Needs `s3:GetObject`. HEAD answers carry no error
    /// details: a missing key (or bucket) is `.noSuchKey` (404), a refusal `.accessDenied` (403).
    public func headObject(key: String) throws(S3Error) -> ObjectInfo {
        let call = S3Call(operation: "HEAD", method: "HEAD", key: key, permission: "s3:GetObject")
        let response = try send(call, on: CurlEasy())
        return ObjectInfo(key: key, headers: response.headers)
    }

    /// Every object whose key starts with `prefix` (all of the bucket for ""), in the store's
    /// order (UTF-8 byte order of the keys on S3), following ListObjectsV2's continuation tokens
    /// `pageSize` keys at a time (at most 1000, S3's page limit). Keys come back exactly as
    /// stored (requested URL-encoded, so keys with characters XML cannot carry survive).
    /// Needs `s3:ListBucket` on the bucket (`arn:aws:s3:::BUCKET`, not `BUCKET/*`).
    public func listObjects(prefix: String = "", pageSize: Int = 1000) throws(S3Error) -> [ObjectSummary] {
        var objects: [ObjectSummary] = []
        var token: String?
        let easy = CurlEasy()
        repeat {
            var query = [
                QueryItem("list-type", "2"), QueryItem("encoding-type", "url"),
                QueryItem("max-keys", String(min(max(pageSize, 1), 1000))),
            ]
            if !prefix.isEmpty { query.append(QueryItem("prefix", prefix)) }
            if let token { query.append(QueryItem("continuation-token", token)) }
            let call = S3Call(
                operation: "LIST \(prefix.isEmpty ? "(all keys)" : "prefix '\(prefix)'")", method: "GET", key: "",
                permission: "s3:ListBucket", query: query)
            let response = try send(call, on: easy)
            let page = ListPage(response.bodyText)
            objects += page.objects
            token = page.nextToken
            if page.isTruncated && token == nil {
                throw S3Error(
                    kind: .invalidResponse, operation: call.operation, bucket: configuration.bucket, key: "",
                    message: "the store says the listing is truncated but gives no NextContinuationToken")
            }
        } while token != nil
        return objects
    }

    func localError(_ error: LocalFileError, operation: String, key: String) -> S3Error {
        S3Error(kind: .localFile, operation: operation, bucket: configuration.bucket, key: key, message: error.message)
    }
}

/// What a successful upload stored.
public struct PutResult: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Lowercase hex SHA-256 of the bytes sent (the store verified them against it, or against
    /// the Content-MD5, per request).
    public var sha256: String
    /// Lowercase hex MD5 of the whole file.
    public var md5: String
    /// The ETag the store returned, without quotes.
    public var etag: String?
    /// 0 for a single PUT.
    public var partCount: Int
    /// Whether the ETag is what S3 computes for unencrypted (or SSE-S3) data: the MD5, or for
    /// multipart the MD5 of the parts' MD5s and `-N`. False is not an error by itself (SSE-KMS
    /// and some stores use other ETags); true is one more end-to-end confirmation. Always false
    /// for an upload of a file still being written (`LandingUpload`), which computes no MD5.
    public var etagMatchesMD5: Bool
}

/// What a successful download wrote, and what the response headers said about the object.
public struct GetResult: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Lowercase hex SHA-256 of the bytes written.
    public var sha256: String
    public var etag: String?
    /// Last-Modified in seconds since 1970 (UTC), if the store sent a readable one.
    public var lastModified: Int64?
    /// `STANDARD` when the store does not say (S3 leaves the header out for it).
    public var storageClass: String = "STANDARD"
    public var contentType: String?
    /// User metadata (`x-amz-meta-NAME`), by NAME without the prefix.
    public var metadata: [String: String] = [:]
}

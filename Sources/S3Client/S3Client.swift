#if canImport(Glibc)
import Glibc
#endif
import Hashing

/// A synchronous S3 client for one bucket: streamed single and multipart uploads, downloads
/// and deletes, SigV4-signed, with retries. Each call blocks the calling thread; calls on one
/// client may run on several threads at once (each uses its own libcurl handle).
///
/// Permissions needed: `s3:PutObject` (single and multipart uploads), `s3:DeleteObject`, and
/// `s3:GetObject` for `getObject` only. A failed multipart upload is aborted when the key also has
/// `s3:AbortMultipartUpload`; otherwise it is left for a bucket lifecycle rule to expire.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    public let policy: TransferPolicy
    public let endpoint: S3Endpoint
    let signer: SigV4Signer

    /// Throws `S3Error` of kind `.invalidConfiguration` for an unusable endpoint or empty bucket.
    public init(_ configuration: S3Configuration, policy: TransferPolicy = TransferPolicy()) throws(S3Error) {
        self.configuration = configuration
        self.policy = policy
        self.endpoint = try S3Endpoint(configuration)
        self.signer = SigV4Signer(accessKey: configuration.accessKey, secretKey: configuration.secretKey,
                                  region: configuration.effectiveRegion)
        CurlGlobal.ensureInitialized()
    }

    /// Deletes `key`. Succeeds also when the key does not exist (S3 answers 204 either way;
    /// a store that answers 404 NoSuchKey counts as success too). `retry` replaces the
    /// policy's for this call.
    public func deleteObject(key: String, retry: RetryPolicy? = nil) throws(S3Error) {
        let call = S3Call(operation: "DELETE", method: "DELETE", key: key, permission: "s3:DeleteObject")
        do {
            _ = try send(call, on: CurlEasy(), retry: retry)
        } catch where error.code == .noSuchKey {
            return
        }
    }

    /// Downloads `key` into the file at `path` (created or truncated, mode 0600, fsynced),
    /// streaming, hashing on the way. On failure the partial file is removed.
    @discardableResult
    public func getObject(key: String, toFile path: String,
                          progress: ((_ received: Int64, _ total: Int64) -> Void)? = nil) throws(S3Error) -> GetResult {
        let file: LocalFile
        do { file = try LocalFile.openForWriting(path) } catch { throw localError(error, operation: "GET", key: key) }
        do throws(S3Error) {
            var call = S3Call(operation: "GET", method: "GET", key: key, permission: "s3:GetObject")
            call.sink = .file(descriptor: file.descriptor)
            call.beforeAttempt = { () throws(LocalFileError) in try file.truncate() }
            let response = try send(call, on: CurlEasy(), progress: progress)
            do { try file.sync() } catch { throw localError(error, operation: "GET", key: key) }
            return GetResult(key: key, size: response.fileBytes, sha256: (response.fileSHA256 ?? []).hexString,
                             etag: response.etag)
        } catch {
            unlink(path)
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
    @discardableResult
    public func putObject(key: String, fromFile path: String, knownDigests: FileDigests? = nil,
                          progress: ((_ sent: Int64, _ total: Int64) -> Void)? = nil) throws(S3Error) -> PutResult {
        let file: LocalFile
        let size: Int64
        do {
            file = try LocalFile.openForReading(path)
            size = try file.size()
        } catch {
            throw localError(error, operation: "PUT", key: key)
        }
        if policy.usesMultipart(forFileSize: size) {
            return try MultipartUpload(client: self, key: key, file: file, size: size, progress: progress,
                                       knownDigests: knownDigests).run()
        }
        let digests: RangeDigests
        do { digests = try RangeDigests(wholeFile: file, size: size, known: knownDigests) } catch {
            throw localError(error, operation: "PUT", key: key)
        }
        return try putSingle(key: key, body: .file(descriptor: file.descriptor, offset: 0, length: size),
                             digests: digests, progress: progress)
    }

    /// Uploads a small in-memory object with a single PUT (e.g. a connectivity probe).
    @discardableResult
    public func putObject(key: String, bytes: [UInt8]) throws(S3Error) -> PutResult {
        try putSingle(key: key, body: .bytes(bytes), digests: RangeDigests(bytes: bytes), progress: nil)
    }

    private func putSingle(key: String, body: RequestBody, digests: RangeDigests,
                           progress: ((Int64, Int64) -> Void)?) throws(S3Error) -> PutResult {
        var call = S3Call(operation: "PUT", method: "PUT", key: key, permission: "s3:PutObject")
        call.body = body
        call.payloadSHA256 = digests.sha256.hexString
        call.headers = [("Content-MD5", digests.md5.base64String)]
        let total = body.length
        let response = try send(call, on: CurlEasy(), progress: progress.map { report in { sent, _ in report(sent, total) } })
        let etag = response.etag
        return PutResult(key: key, size: total, sha256: digests.sha256.hexString, md5: digests.md5.hexString,
                         etag: etag, partCount: 0, etagMatchesMD5: etag == digests.md5.hexString)
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
    /// and some stores use other ETags); true is one more end-to-end confirmation.
    public var etagMatchesMD5: Bool
}

/// What a successful download wrote.
public struct GetResult: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Lowercase hex SHA-256 of the bytes written.
    public var sha256: String
    public var etag: String?
}

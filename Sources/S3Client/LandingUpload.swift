import Dispatch
import Hashing
import Synchronization
import Threads

/// A multipart upload of a file that is still being written (a snapshot being copied): each
/// part goes up as soon as its bytes are final and hashed, while the rest of the file is still
/// being copied and verified. Nothing becomes an object before `complete()`.
///
/// The caller hashes each part (`partReady`) in the pass that hashes the whole file, so the
/// digests the store checks each part against (x-amz-content-sha256, which the signature
/// covers, and the CRC-32 in x-amz-checksum-crc32) and the whole file's SHA-256 come from the
/// same reads of the same bytes. Parts carry no Content-MD5, as `aws s3 cp` sends none: AWS,
/// MinIO and Ceph check the SHA-256, AWS and MinIO the CRC-32 too, and an MD5 was a quarter of
/// a large upload's CPU. Parts go up in any order, `policy.concurrentParts` at a time, each on
/// a connection and thread of its own, read from the file by libcurl: memory does not grow
/// with the file. CreateMultipartUpload is sent at once, on the first worker, so the caller (a
/// copy that the application may be waiting for) never waits for the network.
///
/// It ends one of two ways: `complete()`, once the caller has verified the file; or
/// `discard()`, when it was not verified or the run failed. A discarded upload is aborted where
/// the key may do that (s3:AbortMultipartUpload); otherwise it is completed with the parts that
/// went up and the object is deleted, which needs only s3:PutObject and s3:DeleteObject and
/// leaves neither an object nor parts behind.
public final class LandingUpload: Sendable {
    /// The digests of one part, from the pass that hashed the whole file.
    public struct PartDigests: Sendable {
        /// 0-based: part number `index + 1`.
        public let index: Int
        public let length: Int64
        public let sha256: [UInt8]
        /// CRC-32, big-endian: the part checksum S3 keeps (`x-amz-checksum-crc32`).
        public let crc32: [UInt8]

        public init(index: Int, length: Int64, sha256: [UInt8], crc32: [UInt8]) {
            self.index = index
            self.length = length
            self.sha256 = sha256
            self.crc32 = crc32
        }
    }

    /// What `discard()` left: nothing (`clean`), or what may remain and why.
    public struct Discarded: Sendable {
        public let clean: Bool
        public let note: String
    }

    public let key: String
    /// The size the file will have: the parts are cut from it.
    public let size: Int64
    public let partSize: Int64
    public let partCount: Int
    private let shared: Shared
    private let workers: [JoinableThread<Void>]

    private struct State {
        var uploadID: String?
        var creating = false
        /// Parts hashed and not yet taken by a worker, in the order they were handed in.
        var ready: [Int] = []
        var digests: [PartDigests?]
        var taken = 0
        var stored: [MultipartUpload.Part?]
        var failure: S3Error?
        /// discard(): no part is taken any more.
        var stopping = false
        var sent: [Int64]
    }

    /// The workers' shared state; the workers hold this, never the upload, so an upload that
    /// is dropped without complete() or discard() still stops them (deinit).
    /// `@unchecked`: `upload` is immutable, and its file is only read with pread, from any thread,
    /// until `complete()` closes it once every worker has been joined.
    private final class Shared: @unchecked Sendable {
        let state: Mutex<State>
        let wakes: [DispatchSemaphore]
        let upload: MultipartUpload
        let partStored: (@Sendable (Int) -> Void)?
        let progress: (@Sendable (Int64, Int64) -> Void)?

        init(
            _ state: State, workers: Int, upload: MultipartUpload, partStored: (@Sendable (Int) -> Void)?,
            progress: (@Sendable (Int64, Int64) -> Void)?
        ) {
            self.state = Mutex(state)
            wakes = (0..<workers).map { _ in DispatchSemaphore(value: 0) }
            self.upload = upload
            self.partStored = partStored
            self.progress = progress
        }

        func wakeAll() { for wake in wakes { wake.signal() } }

        func stop() {
            state.withLock { $0.stopping = true }
            wakeAll()
        }
    }

    private enum Step {
        case create
        case part(Int, PartDigests)
        case wait
        case done
    }

    init(
        client: S3Client, key: String, file: LocalFile, size: Int64, objectHeaders: [(name: String, value: String)],
        partStored: (@Sendable (Int) -> Void)?, progress: (@Sendable (Int64, Int64) -> Void)?
    ) {
        self.key = key
        self.size = size
        partSize = client.policy.effectivePartSize(forFileSize: size)
        partCount = Int(max(1, (size + partSize - 1) / partSize))
        // Parts declare their CRC-32, as `aws s3 cp` does: the store checks each part against it
        // and keeps a checksum of the checksums, instead of computing one over the whole object
        // when the upload is completed (moto takes seconds more for that at 1 GiB).
        let upload = MultipartUpload(
            client: client, key: key, file: file, size: size, progress: nil,
            objectHeaders: objectHeaders + [(MultipartUpload.checksumAlgorithmHeader, "CRC32")])
        let workerCount = max(1, min(client.policy.concurrentParts, partCount))
        let shared = Shared(
            State(
                digests: Array(repeating: nil, count: partCount), stored: Array(repeating: nil, count: partCount),
                sent: Array(repeating: 0, count: partCount)),
            workers: workerCount, upload: upload, partStored: partStored, progress: progress)
        self.shared = shared
        let (partSize, partCount) = (partSize, partCount)
        workers = (0..<workerCount).map { worker in
            JoinableThread {
                Self.work(shared, wake: shared.wakes[worker], partSize: partSize, partCount: partCount, total: size)
            }
        }
    }

    deinit { shared.stop() }

    /// Part `digests.index` is final in the file and hashed: it may go up now.
    public func partReady(_ digests: PartDigests) {
        let expected =
            digests.index >= 0 && digests.index < partCount
            ? min(partSize, size - Int64(digests.index) * partSize) : -1
        shared.state.withLock { state in
            guard expected == digests.length, state.digests[digests.index] == nil else {
                if state.failure == nil {
                    state.failure = S3Error(
                        kind: .localFile, operation: "multipart upload (part \(digests.index + 1))",
                        bucket: shared.upload.client.configuration.bucket, key: key,
                        message:
                            """
                            the file was announced as \(size) bytes in \(partCount) parts, but part \
                            \(digests.index + 1) has \(digests.length) bytes
                            """
                    )
                }
                return
            }
            state.digests[digests.index] = digests
            state.ready.append(digests.index)
        }
        shared.wakeAll()
    }

    /// Waits for every part (all must have been handed in: the file is whole and verified),
    /// then runs `beforeCommit` and commits the upload (CompleteMultipartUpload). A part that
    /// failed fails the upload; it is then discarded (see the type's comment).
    /// `fileSHA256`: the whole file's, from the pass that hashed the parts (PutResult reports it).
    public func complete(fileSHA256: String, beforeCommit: () -> Void = {}) throws(S3Error) -> PutResult {
        let missing = shared.state.withLock { state in state.digests.firstIndex { $0 == nil } }
        if let missing {
            shared.stop()
            for worker in workers { _ = worker.join() }
            throw abandoned(.localFile, "part \(missing + 1) of \(partCount) was never hashed, so it cannot go up")
        }
        for worker in workers { _ = worker.join() }
        let (failure, uploadID, stored) = shared.state.withLock { ($0.failure, $0.uploadID, $0.stored) }
        if var failure {
            failure.note = cleanUp().note
            throw failure
        }
        let parts = stored.compactMap { $0 }
        guard let uploadID, parts.count == partCount else {
            // Unreachable: without a failure every worker ends with its parts stored.
            throw abandoned(.invalidResponse, "\(parts.count) of \(partCount) parts were stored")
        }
        // Every part is in the store: the file is not read again. Closed now, it can be removed
        // while the store completes the upload (`beforeCommit`), and its pages are dropped
        // instead of being written to disk for nothing.
        shared.upload.file.close()
        beforeCommit()
        let easy = CurlEasy()
        let etag: String?
        do {
            etag = try shared.upload.complete(parts, uploadID: uploadID, on: easy)
        } catch {
            // It may have been completed all the same (stored, then an error): the caller
            // deletes the key. Parts of an upload that was not completed are aborted if allowed.
            var failure = error
            failure.note = shared.upload.abort(uploadID: uploadID, on: easy)
            throw failure
        }
        // No MD5 was computed, of the parts or of the file: the ETag is not checked.
        return PutResult(
            key: key, size: size, sha256: fileSHA256, md5: "", etag: etag, partCount: parts.count,
            etagMatchesMD5: false)
    }

    /// Stops the upload and leaves nothing of it in the store: no new part is sent, the parts
    /// in flight finish, then the upload is aborted, or (without s3:AbortMultipartUpload)
    /// completed with the parts that went up (an empty one if none did) and the object deleted.
    /// Each request is tried twice at most, within 30 s: a store that is failing should not
    /// hold the run through another round of retries.
    @discardableResult
    public func discard() -> Discarded {
        shared.stop()
        for worker in workers { _ = worker.join() }
        return cleanUp()
    }

    /// The error of an upload `complete` gives up on before committing it, once the upload
    /// is cleaned up: its note says what became of the parts.
    private func abandoned(_ kind: S3Error.Kind, _ message: String) -> S3Error {
        var error = S3Error(
            kind: kind, operation: "multipart upload (complete)", bucket: shared.upload.client.configuration.bucket,
            key: key, message: message)
        error.note = cleanUp().note
        return error
    }

    private func cleanUp() -> Discarded {
        let (uploadID, stored) = shared.state.withLock { ($0.uploadID, $0.stored) }
        guard let uploadID else { return Discarded(clean: true, note: "no multipart upload was started") }
        let client = shared.upload.client
        let configured = client.policy.retry
        let brief = RetryPolicy(
            maxAttempts: min(2, configured.maxAttempts), totalTimeout: min(.seconds(30), configured.totalTimeout))
        let easy = CurlEasy()
        let abort = S3Call(
            operation: "multipart upload (abort)", method: "DELETE", key: key,
            permission: "s3:AbortMultipartUpload", query: [QueryItem("uploadId", uploadID)])
        let abortError: S3Error
        do {
            _ = try client.send(abort, on: easy, retry: RetryPolicy.none)
            return Discarded(clean: true, note: "the multipart upload was aborted")
        } catch {
            abortError = error
        }
        // Without s3:AbortMultipartUpload: complete what went up, then delete the object.
        do throws(S3Error) {
            var parts = stored.compactMap { $0 }
            if parts.isEmpty {
                var call = S3Call(
                    operation: "multipart upload (empty part, to end the upload)", method: "PUT", key: key,
                    permission: "s3:PutObject", query: [QueryItem("partNumber", "1"), QueryItem("uploadId", uploadID)])
                let empty = RangeDigests(bytes: [])
                call.body = .bytes([])
                call.payloadSHA256 = empty.sha256.hexString
                call.headers = [("Content-MD5", empty.md5.base64String)]
                let response = try client.send(call, on: easy, retry: brief)
                guard let etag = response.etag, !etag.isEmpty else {
                    throw S3Error(
                        kind: .invalidResponse, operation: call.operation, bucket: client.configuration.bucket,
                        key: key, message: "the store's answer has no ETag")
                }
                parts = [MultipartUpload.Part(number: 1, etag: etag, md5: empty.md5)]
            }
            _ = try shared.upload.complete(parts, uploadID: uploadID, on: easy)
            try client.deleteObject(key: key, retry: brief)
            return Discarded(
                clean: true,
                note:
                    """
                    the multipart upload was completed and its object deleted (the key may not abort it: \
                    \(abortError.code?.rawValue ?? abortError.message))
                    """
            )
        } catch {
            return Discarded(
                clean: false,
                note:
                    "the multipart upload \(uploadID) could not be aborted "
                    + "(\(abortError.code?.rawValue ?? abortError.message)) "
                    + "nor completed and deleted (\(error.code?.rawValue ?? error.message)); "
                    + "a bucket lifecycle rule for incomplete multipart uploads removes its parts")
        }
    }

    /// One worker: creates the upload if nobody has, then sends parts as they become ready,
    /// until every part is taken, one failed, or the upload is stopped.
    private static func work(_ shared: Shared, wake: DispatchSemaphore, partSize: Int64, partCount: Int, total: Int64) {
        let easy = CurlEasy()
        while true {
            let step: Step = shared.state.withLock { state in
                if state.failure != nil || state.stopping || state.taken == partCount { return .done }
                if state.uploadID == nil {
                    if state.creating { return .wait }
                    state.creating = true
                    return .create
                }
                guard !state.ready.isEmpty else { return .wait }
                let index = state.ready.removeFirst()
                state.taken += 1
                return .part(index, state.digests[index]!)
            }
            switch step {
            case .done:
                return
            case .wait:
                _ = wake.wait(timeout: .now() + .milliseconds(200))
            case .create:
                do throws(S3Error) {
                    let uploadID = try shared.upload.create(on: easy)
                    shared.state.withLock { $0.uploadID = uploadID }
                } catch {
                    shared.state.withLock { state in if state.failure == nil { state.failure = error } }
                }
                shared.wakeAll()
            case .part(let index, let digests):
                do throws(S3Error) {
                    let part = try send(
                        digests, shared: shared, partSize: partSize, partCount: partCount, total: total, on: easy)
                    shared.state.withLock { $0.stored[index] = part }
                    shared.partStored?(index)
                } catch {
                    shared.state.withLock { state in if state.failure == nil { state.failure = error } }
                    shared.wakeAll()
                }
            }
        }
    }

    private static func send(
        _ digests: PartDigests, shared: Shared, partSize: Int64, partCount: Int, total: Int64,
        on easy: CurlEasy
    ) throws(S3Error) -> MultipartUpload.Part {
        let upload = shared.upload
        let number = digests.index + 1
        let offset = Int64(digests.index) * partSize
        let uploadID = shared.state.withLock { $0.uploadID ?? "" }
        var call = S3Call(
            operation: "multipart upload (part \(number) of \(partCount))", method: "PUT", key: upload.key,
            permission: "s3:PutObject",
            query: [QueryItem("partNumber", String(number)), QueryItem("uploadId", uploadID)])
        call.body = .file(descriptor: upload.file.descriptor, offset: offset, length: digests.length)
        call.payloadSHA256 = digests.sha256.hexString
        call.headers = [("x-amz-checksum-crc32", digests.crc32.base64String)]
        let response = try upload.client.send(
            call, on: easy,
            progress: shared.progress.map { report in
                { sent, _ in
                    // One report at a time, of all parts' bytes together.
                    shared.state.withLock { state in
                        state.sent[digests.index] = sent
                        report(state.sent.reduce(0, +), total)
                    }
                }
            })
        guard let etag = response.etag, !etag.isEmpty else {
            throw S3Error(
                kind: .invalidResponse, operation: call.operation, bucket: upload.client.configuration.bucket,
                key: upload.key, message: "the store's answer has no ETag")
        }
        return MultipartUpload.Part(number: number, etag: etag, crc32: digests.crc32)
    }
}

extension S3Client {
    /// Starts a multipart upload of the file at `path` while it is still being written, to be
    /// `size` bytes long: see `LandingUpload`. Hand each part's digests in with `partReady` as
    /// it lands, then `complete()` or `discard()`. `contentType` and `metadata` as for
    /// `putObject` (the metadata is fixed now: S3 takes it with CreateMultipartUpload).
    /// `partStored(index)` runs on a worker thread after each part the store accepted.
    /// Needs `s3:PutObject` (and `s3:DeleteObject` to discard without `s3:AbortMultipartUpload`).
    public func startUpload(
        key: String, ofGrowingFile path: String, size: Int64, contentType: String? = nil,
        metadata: [String: String] = [:], partStored: (@Sendable (Int) -> Void)? = nil,
        progress: (@Sendable (_ sent: Int64, _ total: Int64) -> Void)? = nil
    ) throws(S3Error) -> LandingUpload {
        let objectHeaders = try self.objectHeaders(
            contentType: contentType, metadata: metadata, operation: "multipart upload (create)", key: key)
        let file: LocalFile
        do { file = try LocalFile.openForReading(path) } catch {
            throw localError(error, operation: "multipart upload", key: key)
        }
        return LandingUpload(
            client: self, key: key, file: file, size: size, objectHeaders: objectHeaders,
            partStored: partStored, progress: progress)
    }
}

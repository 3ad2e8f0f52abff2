import Hashing
import Synchronization
import Threads

/// CreateMultipartUpload, UploadPart for each part (each with its own SHA-256 and Content-MD5,
/// computed in one read of the part just before it is sent), CompleteMultipartUpload.
/// Every request is retried on its own; a failed upload is aborted if the key may do that.
struct MultipartUpload {
    let client: S3Client
    let key: String
    let file: LocalFile
    let size: Int64
    let progress: ((Int64, Int64) -> Void)?
    /// What the object is stored with (Content-Type, metadata…): sent on CreateMultipartUpload.
    var objectHeaders: [(name: String, value: String)] = []
    /// The whole file's digests when the caller has them (PutResult reports them).
    var knownDigests: FileDigests? = nil

    struct Part {
        let number: Int
        let etag: String
        /// The part's MD5 where it was sent as Content-MD5 (the ETag is then checked).
        var md5: [UInt8]? = nil
        /// The part's CRC-32 where the upload declared `x-amz-checksum-algorithm: CRC32`.
        var crc32: [UInt8]? = nil
    }

    /// Declares on CreateMultipartUpload the checksum each part carries; CompleteMultipartUpload
    /// must then name each part's.
    static let checksumAlgorithmHeader = "x-amz-checksum-algorithm"

    func run() throws(S3Error) -> PutResult {
        let easy = CurlEasy()
        let uploadID = try create(on: easy)
        do throws(S3Error) {
            let partSize = client.policy.effectivePartSize(forFileSize: size)
            let partCount = Int(max(1, (size + partSize - 1) / partSize))
            let workers = min(client.policy.concurrentParts, partCount)
            let parts: [Part]
            let digests: (sha256: [UInt8], md5: [UInt8])
            if workers > 1 {
                parts = try uploadConcurrently(
                    partCount: partCount, partSize: partSize, workers: workers, uploadID: uploadID)
                do {
                    let whole = try RangeDigests(wholeFile: file, size: size, known: knownDigests)
                    digests = (whole.sha256, whole.md5)
                } catch {
                    throw client.localError(error, operation: "multipart upload (digests)", key: key)
                }
            } else {
                let whole = WholeFileDigests()
                var sequential: [Part] = []
                for index in 0..<partCount {
                    let offset = Int64(index) * partSize
                    sequential.append(
                        try uploadPart(
                            number: index + 1, of: partCount, offset: offset,
                            length: min(partSize, size - offset), uploadID: uploadID,
                            whole: whole, on: easy, progress: progress))
                }
                parts = sequential
                digests = whole.finalize()
            }
            let etag = try complete(parts, uploadID: uploadID, on: easy)
            let expectedETag = Digest.hash(.md5, parts.flatMap { $0.md5 ?? [] }).hexString + "-\(parts.count)"
            return PutResult(
                key: key, size: size, sha256: digests.sha256.hexString, md5: digests.md5.hexString,
                etag: etag, partCount: parts.count, etagMatchesMD5: etag == expectedETag)
        } catch {
            var failure = error
            failure.note = abort(uploadID: uploadID, on: easy)
            throw failure
        }
    }

    func create(on easy: CurlEasy) throws(S3Error) -> String {
        var call = S3Call(
            operation: "multipart upload (create)", method: "POST", key: key,
            permission: "s3:PutObject", query: [QueryItem("uploads")])
        call.headers = objectHeaders
        let response = try client.send(call, on: easy)
        guard let uploadID = S3XML.firstText(of: "UploadId", in: response.bodyText), !uploadID.isEmpty else {
            throw S3Error(
                kind: .invalidResponse, operation: call.operation, bucket: client.configuration.bucket,
                key: key, message: "the store's answer has no UploadId")
        }
        return uploadID
    }

    /// Parts on `workers` connections at once, each worker on a thread of its own (they wait on
    /// the network, so their number is not bound to the CPU count): each takes the next part
    /// number until none is left or one has failed (retries happen inside each part's request).
    private func uploadConcurrently(
        partCount: Int, partSize: Int64, workers: Int, uploadID: String
    ) throws(S3Error) -> [Part] {
        struct Shared {
            var next = 0
            var parts: [Part?]
            var failure: S3Error?
            var sent: [Int64]
        }
        final class Board: Sendable {
            let state: Mutex<Shared>
            init(_ shared: Shared) { state = Mutex(shared) }
        }
        let board = Board(
            Shared(parts: Array(repeating: nil, count: partCount), sent: Array(repeating: 0, count: partCount)))
        nonisolated(unsafe) let upload = self
        let total = size
        let threads = (0..<workers).map { _ in
            JoinableThread {
                let easy = CurlEasy()
                while true {
                    let index: Int? = board.state.withLock { state in
                        guard state.failure == nil, state.next < partCount else { return nil }
                        defer { state.next += 1 }
                        return state.next
                    }
                    guard let index else { return }
                    let offset = Int64(index) * partSize
                    do throws(S3Error) {
                        let part = try upload.uploadPart(
                            number: index + 1, of: partCount, offset: offset, length: min(partSize, total - offset),
                            uploadID: uploadID, whole: nil, on: easy,
                            progress: upload.progress.map { report in
                                { sent, _ in
                                    // One report at a time, of all parts' bytes together.
                                    board.state.withLock { state in
                                        state.sent[index] = sent - offset
                                        report(state.sent.reduce(0, +), total)
                                    }
                                }
                            })
                        board.state.withLock { $0.parts[index] = part }
                    } catch {
                        board.state.withLock { state in if state.failure == nil { state.failure = error } }
                        return
                    }
                }
            }
        }
        for thread in threads { _ = thread.join() }
        return try board.state.withLock { (state) throws(S3Error) -> [Part] in
            if let failure = state.failure { throw failure }
            return state.parts.compactMap { $0 }
        }
    }

    private func uploadPart(
        number: Int, of count: Int, offset: Int64, length: Int64, uploadID: String,
        whole: WholeFileDigests?, on easy: CurlEasy,
        progress: ((Int64, Int64) -> Void)?
    ) throws(S3Error) -> Part {
        let operation = "multipart upload (part \(number) of \(count))"
        let digests: RangeDigests
        do { digests = try RangeDigests(file: file, offset: offset, length: length, whole: whole) } catch {
            throw client.localError(error, operation: operation, key: key)
        }
        var call = S3Call(
            operation: operation, method: "PUT", key: key, permission: "s3:PutObject",
            query: [QueryItem("partNumber", String(number)), QueryItem("uploadId", uploadID)])
        call.body = .file(descriptor: file.descriptor, offset: offset, length: length)
        call.payloadSHA256 = digests.sha256.hexString
        call.headers = [("Content-MD5", digests.md5.base64String)]
        let total = size
        let response = try client.send(
            call, on: easy,
            progress: progress.map { report in
                { sent, _ in report(offset + sent, total) }
            })
        guard let etag = response.etag, !etag.isEmpty else {
            throw S3Error(
                kind: .invalidResponse, operation: operation, bucket: client.configuration.bucket,
                key: key, message: "the store's answer has no ETag")
        }
        return Part(number: number, etag: etag, md5: digests.md5)
    }

    func complete(_ parts: [Part], uploadID: String, on easy: CurlEasy) throws(S3Error) -> String? {
        let body =
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            + parts.map { part in
                "<Part><PartNumber>\(part.number)</PartNumber><ETag>\"\(S3XML.escape(part.etag))\"</ETag>"
                    + (part.crc32.map { "<ChecksumCRC32>\($0.base64String)</ChecksumCRC32>" } ?? "") + "</Part>"
            }.joined()
            + "</CompleteMultipartUpload>"
        let bytes = Array(body.utf8)
        let digests = RangeDigests(bytes: bytes)
        var call = S3Call(
            operation: "multipart upload (complete)", method: "POST", key: key,
            permission: "s3:PutObject", query: [QueryItem("uploadId", uploadID)])
        call.body = .bytes(bytes)
        call.payloadSHA256 = digests.sha256.hexString
        call.headers = [("Content-MD5", digests.md5.base64String), ("Content-Type", "application/xml")]
        let response = try client.send(call, on: easy)
        let etag = S3XML.firstText(of: "ETag", in: response.bodyText).map { $0.replacing("\"", with: "") }
        return etag.flatMap { $0.isEmpty ? nil : $0 } ?? response.etag
    }

    /// Best effort: returns a note for the error message.
    func abort(uploadID: String, on easy: CurlEasy) -> String {
        let call = S3Call(
            operation: "multipart upload (abort)", method: "DELETE", key: key,
            permission: "s3:AbortMultipartUpload", query: [QueryItem("uploadId", uploadID)])
        do {
            _ = try client.send(call, on: easy, retry: RetryPolicy.none)
            return "the incomplete multipart upload was aborted"
        } catch {
            let reason = error.code?.rawValue ?? error.message
            return "the incomplete multipart upload \(uploadID) could not be aborted (\(reason)); "
                + "a bucket lifecycle rule for incomplete multipart uploads removes its parts"
        }
    }
}

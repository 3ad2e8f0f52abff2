import CCurl
import Glibc
import Hashing
import SystemCalls

/// What a request sends: nothing, a small buffer, or a byte range of an open file (read with
/// `pread`, so a retry simply starts again at the range's first byte).
enum RequestBody {
    case none
    case bytes([UInt8])
    case file(descriptor: Int32, offset: Int64, length: Int64)

    var length: Int64 {
        switch self {
        case .none: 0
        case .bytes(let bytes): Int64(bytes.count)
        case .file(_, _, let length): length
        }
    }
}

/// Where a successful response body goes: memory (small XML answers) or an open file
/// (downloads, written with `pwrite` from offset 0 and hashed on the way). Error bodies always
/// go to memory.
enum ResponseSink {
    case memory
    case file(descriptor: Int32)
}

struct HTTPRequest {
    var method: String
    var url: String
    var headers: [(name: String, value: String)]
    var body: RequestBody = .none
    var sink: ResponseSink = .memory
    /// A bound on the whole request (S3 transfers have none: the low-speed limit catches stalls).
    var totalTimeout: Duration? = nil
    /// Never through a proxy, whatever `http_proxy`/`https_proxy` say (the link-local metadata service).
    var bypassProxy = false
}

struct HTTPResponse {
    var status: Int
    /// Lowercased names.
    var headers: [String: String]
    /// The body when it went to memory (capped at 1 MiB).
    var body: [UInt8]
    /// Bytes written to a file sink, and their SHA-256.
    var fileBytes: Int64
    var fileSHA256: [UInt8]?

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

enum TransferOutcome {
    case response(HTTPResponse)
    /// libcurl failed: its code and the most specific text it gave.
    case transportFailure(code: Int, message: String)
    /// Reading the upload or writing the download failed locally.
    case localFailure(String)
}

/// The mutable state libcurl's callbacks work on during one `curl_easy_perform`.
final class TransferState {
    let body: RequestBody
    let sink: ResponseSink
    let easy: CurlEasy
    let progress: ((Int64, Int64) -> Void)?
    var bodyOffset: Int64 = 0
    var status: Int?
    var headers: [String: String] = [:]
    var memoryBody: [UInt8] = []
    var fileBytes: Int64 = 0
    var fileDigest: Digest? = Digest(.sha256)
    var localError: String?
    var lastProgress: Int64 = -1

    static let memoryLimit = 1 << 20

    init(body: RequestBody, sink: ResponseSink, easy: CurlEasy, progress: ((Int64, Int64) -> Void)?) {
        self.body = body
        self.sink = sink
        self.easy = easy
        self.progress = progress
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = Int(min(Int64(capacity), body.length - bodyOffset))
        guard count > 0 else { return 0 }
        switch body {
        case .none:
            return 0
        case .bytes(let bytes):
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawPointer(buffer).copyMemory(
                    from: source.baseAddress! + Int(bodyOffset), byteCount: count)
            }
            bodyOffset += Int64(count)
            return count
        case .file(let descriptor, let offset, _):
            let target = UnsafeMutableRawBufferPointer(start: buffer, count: count)
            do {
                let got = try Syscalls.read(
                    descriptor, into: target, at: offset + bodyOffset, path: "the upload's file")
                if got > 0 {
                    bodyOffset += Int64(got)
                    return got
                }
                localError = "the file became shorter while it was being uploaded"
            } catch {
                localError = "reading the file failed: \(SystemError.text(error.errno))"
            }
            return CurlEasy.readAbort
        }
    }

    func write(_ buffer: UnsafeMutablePointer<CChar>, count: Int) -> Int {
        if status == nil { status = easy.responseCode() }
        guard case .file(let descriptor) = sink, let status, (200..<300).contains(status) else {
            let room = max(0, Self.memoryLimit - memoryBody.count)
            memoryBody.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: min(room, count)))
            return count
        }
        let bytes = UnsafeRawBufferPointer(start: buffer, count: count)
        var written = 0
        while written < count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
            do {
                written += try Syscalls.write(
                    descriptor, rest, at: fileBytes + Int64(written), path: "the download's file")
            } catch {
                localError = "writing the file failed: \(SystemError.text(error.errno))"
                return 0
            }
        }
        fileDigest?.update(bytes)
        fileBytes += Int64(count)
        return count
    }

    func header(_ line: String) {
        let trimmed = line.trimmingASCIIWhitespace
        if trimmed.hasPrefix("HTTP/") {
            headers = [:]
            status = nil
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = trimmed[..<colon].lowercased()
        headers[name] = String(trimmed[trimmed.index(after: colon)...]).trimmingASCIIWhitespace
    }

    func seek(to offset: Int64) -> Bool {
        guard offset >= 0, offset <= body.length else { return false }
        bodyOffset = offset
        return true
    }

    /// What libcurl reports, as the caller's progress: the bytes sent of a request with a body
    /// (an upload), else the bytes received.
    func reportProgress(downloaded: Int64, of downloadTotal: Int64, uploaded: Int64, of uploadTotal: Int64) {
        let (now, total) = body.length > 0 ? (uploaded, uploadTotal) : (downloaded, downloadTotal)
        guard let progress, now != lastProgress else { return }
        lastProgress = now
        progress(now, total)
    }
}

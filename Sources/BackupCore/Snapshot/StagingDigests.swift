import Dispatch
import Glibc
import Hashing
import Synchronization
import SystemCalls
import Threads

/// The digests of a staging file, each computed on a thread of its own (SHA-256 and MD5 run
/// side by side, and beside the copy and its verification).
///
/// A file copy never changes bytes once they have landed, so the digests follow it
/// (`landed(_:)`) and are nearly done when the copy is. SQLite's online backup rewrites the
/// first page when it finishes, so that copy is read once it is `complete()`.
///
/// With `parts`, the file is also hashed part by part for an upload that sends each part as
/// soon as it is hashed: the SHA-256 thread hashes each part (x-amz-content-sha256) and its
/// CRC-32 (S3's part checksum, as `aws s3 cp` sends it) in the same reads as the whole file,
/// so what the store checks a part against and the recorded SHA-256 are of the same bytes.
/// No MD5 is computed for parts: the store checks them by those two, and MD5 was a quarter of
/// the CPU of a large upload.
final class StagingDigests {
    private struct Progress {
        var landed: Int64 = 0
        var complete = false
        var cancelled = false
    }

    private final class Shared: Sendable {
        let progress = Mutex(Progress())
        let wakes: [DispatchSemaphore]
        let parts: Snapshot.PartDigests?
        init(threads: Int, parts: Snapshot.PartDigests?) {
            wakes = (0..<threads).map { _ in DispatchSemaphore(value: 0) }
            self.parts = parts
        }
        func wakeAll() { for wake in wakes { wake.signal() } }
    }

    private struct Cancelled: Error {}

    private let path: String
    /// One thread each, in this order; the SHA-256 one also hashes the parts.
    private let algorithms: [Digest.Algorithm]
    private let shared: Shared
    /// One per algorithm: following the copy from the start, or (when no thread could be
    /// created for that) reading the finished file, started by `complete()`.
    private var threads: [JoinableThread<(digest: [UInt8], size: Int64)>]

    /// `algorithms`: the whole file's digests that `results()` returns, in this order; with
    /// `parts`, SHA-256 must be one of them.
    init(of path: String, algorithms: [Digest.Algorithm], parts: Snapshot.PartDigests? = nil) {
        precondition(parts == nil || algorithms.contains(.sha256), "parts are hashed by the SHA-256 thread")
        self.path = path
        self.algorithms = algorithms
        let shared = Shared(threads: algorithms.count, parts: parts)
        self.shared = shared
        var started: [JoinableThread<(digest: [UInt8], size: Int64)>] = []
        for (index, algorithm) in algorithms.enumerated() {
            guard
                let thread = JoinableThread(ownThread: { [path] in
                    try Self.follow(path, algorithm, shared: shared, wake: shared.wakes[index])
                })
            else { break }
            started.append(thread)
        }
        if started.count < algorithms.count {
            shared.progress.withLock { $0.cancelled = true }
            shared.wakeAll()
            for thread in started { _ = thread.join() }
            shared.progress.withLock { $0.cancelled = false }
            started = []
        }
        threads = started
    }

    /// Bytes `0..<offset` of the file are final.
    func landed(_ offset: Int64) {
        shared.progress.withLock { $0.landed = offset }
        shared.wakeAll()
    }

    /// The whole file is final.
    func complete() {
        shared.progress.withLock { $0.complete = true }
        shared.wakeAll()
        if threads.isEmpty {
            // No thread could follow the copy: read the finished file now (on the caller's
            // thread where no thread can be created).
            threads = algorithms.enumerated().map { index, algorithm in
                JoinableThread { [path, shared] in
                    try Self.follow(path, algorithm, shared: shared, wake: shared.wakes[index])
                }
            }
        }
    }

    /// Each whole-file digest and the size it read, in the order of `algorithms`. Waits for
    /// every thread (so every part has been handed on).
    func results() -> [Result<(digest: [UInt8], size: Int64), any Error>] {
        threads.map { $0.join() }
    }

    /// Stops reading at once (the copy failed); safe to call more than once, and after results().
    func cancel() {
        shared.progress.withLock { $0.cancelled = true }
        shared.wakeAll()
        for thread in threads { _ = thread.join() }
    }

    private static func follow(
        _ path: String, _ algorithm: Digest.Algorithm, shared: Shared,
        wake: DispatchSemaphore
    ) throws -> (digest: [UInt8], size: Int64) {
        var digest = Digest(algorithm)
        let partSize = algorithm == .sha256 ? shared.parts?.partSize : nil
        var part: Digest? = partSize != nil ? Digest(algorithm) : nil
        // Each part's CRC-32 comes from the same reads as its SHA-256.
        var crc32 = CRC32()
        var (partIndex, partStart): (Int, Int64) = (0, 0)
        var fd: Int32 = -1
        defer { if fd >= 0 { FileSystem.close(fd) } }
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while true {
            let progress = shared.progress.withLock { ($0.landed, $0.complete, $0.cancelled) }
            if progress.2 { throw Cancelled() }
            // Complete: to the end of the file. Otherwise up to what has landed, or wait for more.
            let end = progress.1 ? nil : Optional(progress.0)
            if let end, offset >= end {
                _ = wake.wait(timeout: .now() + .milliseconds(50))
                continue
            }
            if fd < 0 {
                fd = try FileSystem.open(path, O_RDONLY)
                Syscalls.adviseSequential(fd)
            }
            var want = end.map { Int(min(Int64(capacity), $0 - offset)) } ?? capacity
            // A read never spans two parts.
            if let partSize { want = Int(min(Int64(want), partStart + partSize - offset)) }
            let got = try Syscalls.read(
                fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset, path: path)
            if got == 0 {
                guard end == nil else {
                    throw SystemError(operation: "read (the file ended early)", path: path, errno: EIO)
                }
                // The last part: what is left, or the one empty part of an empty file.
                if partSize != nil, offset > partStart || partIndex == 0, let last = part.take() {
                    shared.parts?.digested(
                        Snapshot.Part(
                            index: partIndex, length: offset - partStart, sha256: last.finalize(), crc32: crc32.bytes))
                }
                return (digest.finalize(), offset)
            }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            digest.update(bytes)
            part?.update(bytes)
            if partSize != nil { crc32.update(bytes) }
            offset += Int64(got)
            if let partSize, offset == partStart + partSize, let full = part.take() {
                shared.parts?.digested(
                    Snapshot.Part(index: partIndex, length: partSize, sha256: full.finalize(), crc32: crc32.bytes))
                (partIndex, partStart) = (partIndex + 1, offset)
                part = Digest(algorithm)
                crc32 = CRC32()
            }
        }
    }
}

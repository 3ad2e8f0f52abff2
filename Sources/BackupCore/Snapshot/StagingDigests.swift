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
/// soon as it is hashed: the SHA-256 thread hashes each part in the same reads as the whole
/// file (so the digest the store checks a part against and the recorded SHA-256 are of the
/// same bytes), and the MD5 thread hashes each part for Content-MD5 and its CRC-32 (S3's part
/// checksum, as `aws s3 cp` sends it) in the same reads (the whole file's MD5 is then not
/// needed).
final class StagingDigests {
    private struct Progress {
        var landed: Int64 = 0
        var complete = false
        var cancelled = false
        /// Part digests computed by one thread and waiting for the other's.
        var halves: [Int: (length: Int64, sha256: [UInt8]?, md5: [UInt8]?, crc32: [UInt8]?)] = [:]
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

        /// One thread's digest of part `index` (with the MD5, its CRC-32); hands the part on once
        /// both threads' are there.
        func part(_ index: Int, length: Int64, _ algorithm: Digest.Algorithm, _ digest: [UInt8], crc32: [UInt8]?) {
            guard let parts else { return }
            let whole = progress.withLock { progress -> Snapshot.Part? in
                var half = progress.halves[index] ?? (length, nil, nil, nil)
                if algorithm == .sha256 { half.sha256 = digest } else { (half.md5, half.crc32) = (digest, crc32) }
                guard let sha256 = half.sha256, let md5 = half.md5, let crc32 = half.crc32 else {
                    progress.halves[index] = half
                    return nil
                }
                progress.halves[index] = nil
                return Snapshot.Part(index: index, length: length, sha256: sha256, md5: md5, crc32: crc32)
            }
            if let whole { parts.digested(whole) }
        }
    }

    private struct Cancelled: Error {}

    /// What one thread computes: the whole file's digest, each part's, or both.
    private struct Follower {
        let algorithm: Digest.Algorithm
        let whole: Bool
        let parts: Bool
    }

    private let path: String
    private let algorithms: [Digest.Algorithm]
    private let followers: [Follower]
    private let shared: Shared
    /// One per follower: following the copy from the start, or (when no thread could be
    /// created for that) reading the finished file, started by `complete()`.
    private var threads: [JoinableThread<(digest: [UInt8], size: Int64)>]

    /// `algorithms`: the whole file's digests that `results()` returns, in this order.
    init(of path: String, algorithms: [Digest.Algorithm], parts: Snapshot.PartDigests? = nil) {
        self.path = path
        self.algorithms = algorithms
        var followers = algorithms.map {
            Follower(algorithm: $0, whole: true, parts: parts != nil && ($0 == .sha256 || $0 == .md5))
        }
        if parts != nil {
            for algorithm in [Digest.Algorithm.sha256, .md5] where !algorithms.contains(algorithm) {
                followers.append(Follower(algorithm: algorithm, whole: false, parts: true))
            }
        }
        self.followers = followers
        let shared = Shared(threads: followers.count, parts: parts)
        self.shared = shared
        var started: [JoinableThread<(digest: [UInt8], size: Int64)>] = []
        for (index, follower) in followers.enumerated() {
            guard
                let thread = JoinableThread(ownThread: { [path] in
                    try Self.follow(path, follower, shared: shared, wake: shared.wakes[index])
                })
            else { break }
            started.append(thread)
        }
        if started.count < followers.count {
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
            threads = followers.enumerated().map { index, follower in
                JoinableThread { [path, shared] in
                    try Self.follow(path, follower, shared: shared, wake: shared.wakes[index])
                }
            }
        }
    }

    /// Each whole-file digest and the size it read, in the order of `algorithms`. Waits for
    /// every thread (so every part has been handed on).
    func results() -> [Result<(digest: [UInt8], size: Int64), any Error>] {
        let all = threads.map { $0.join() }
        return algorithms.map { algorithm in all[followers.firstIndex { $0.algorithm == algorithm && $0.whole }!] }
    }

    /// Stops reading at once (the copy failed); safe to call more than once, and after results().
    func cancel() {
        shared.progress.withLock { $0.cancelled = true }
        shared.wakeAll()
        for thread in threads { _ = thread.join() }
    }

    private static func follow(
        _ path: String, _ follower: Follower, shared: Shared,
        wake: DispatchSemaphore
    ) throws -> (digest: [UInt8], size: Int64) {
        let algorithm = follower.algorithm
        var digest: Digest? = follower.whole ? Digest(algorithm) : nil
        let partSize = follower.parts ? shared.parts?.partSize : nil
        var part: Digest? = partSize != nil ? Digest(algorithm) : nil
        // The MD5 thread also checksums each part with CRC-32, in the same reads.
        let withCRC32 = partSize != nil && algorithm == .md5
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
                    shared.part(
                        partIndex, length: offset - partStart, algorithm, last.finalize(),
                        crc32: withCRC32 ? crc32.bytes : nil)
                }
                return (digest.take()?.finalize() ?? [], offset)
            }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            digest?.update(bytes)
            part?.update(bytes)
            if withCRC32 { crc32.update(bytes) }
            offset += Int64(got)
            if let partSize, offset == partStart + partSize, let full = part.take() {
                shared.part(
                    partIndex, length: partSize, algorithm, full.finalize(), crc32: withCRC32 ? crc32.bytes : nil)
                (partIndex, partStart) = (partIndex + 1, offset)
                part = Digest(algorithm)
                crc32 = CRC32()
            }
        }
    }
}

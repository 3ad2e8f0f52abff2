import Glibc
import Dispatch
import Hashing
import Synchronization
import Threads
import SystemCalls

/// The digests of a staging file, each computed on a thread of its own (SHA-256 and MD5 run
/// side by side, and beside the copy and its verification).
///
/// A file copy never changes bytes once they have landed, so the digests follow it
/// (`landed(_:)`) and are nearly done when the copy is. SQLite's online backup rewrites the
/// first page when it finishes, so that copy is read once it is `complete()`.
final class StagingDigests {
    private struct Progress {
        var landed: Int64 = 0
        var complete = false
        var cancelled = false
    }

    private final class Shared: Sendable {
        let progress = Mutex(Progress())
        let wakes: [DispatchSemaphore]
        init(threads: Int) { wakes = (0..<threads).map { _ in DispatchSemaphore(value: 0) } }
        func wakeAll() { for wake in wakes { wake.signal() } }
    }

    private struct Cancelled: Error {}

    private let path: String
    private let algorithms: [Digest.Algorithm]
    private let shared: Shared
    /// One per algorithm: following the copy from the start, or (when no thread could be
    /// created for that) reading the finished file, started by `complete()`.
    private var threads: [JoinableThread<(digest: [UInt8], size: Int64)>]

    init(of path: String, algorithms: [Digest.Algorithm]) {
        self.path = path
        self.algorithms = algorithms
        let shared = Shared(threads: algorithms.count)
        self.shared = shared
        var followers: [JoinableThread<(digest: [UInt8], size: Int64)>] = []
        for (index, algorithm) in algorithms.enumerated() {
            guard let follower = JoinableThread(ownThread: {
                try Self.follow(path, algorithm, shared: shared, wake: shared.wakes[index])
            }) else { break }
            followers.append(follower)
        }
        if followers.count < algorithms.count {
            shared.progress.withLock { $0.cancelled = true }
            shared.wakeAll()
            for follower in followers { _ = follower.join() }
            followers = []
        }
        threads = followers
    }

    /// Bytes `0..<offset` of the file are final.
    func landed(_ offset: Int64) {
        shared.progress.withLock { $0.landed = offset }
        shared.wakeAll()
    }

    /// The whole file is final.
    func complete() {
        if threads.isEmpty {
            threads = algorithms.map { algorithm in JoinableThread { [path] in try FileSystem.digest(algorithm, of: path) } }
            return
        }
        shared.progress.withLock { $0.complete = true }
        shared.wakeAll()
    }

    /// Each algorithm's digest and the size it read, in the order given. Waits for them.
    func results() -> [Result<(digest: [UInt8], size: Int64), any Error>] { threads.map { $0.join() } }

    /// Stops reading at once (the copy failed); safe to call more than once, and after results().
    func cancel() {
        shared.progress.withLock { $0.cancelled = true }
        shared.wakeAll()
        for thread in threads { _ = thread.join() }
    }

    private static func follow(_ path: String, _ algorithm: Digest.Algorithm, shared: Shared,
                               wake: DispatchSemaphore) throws -> (digest: [UInt8], size: Int64) {
        var digest = Digest(algorithm)
        var fd: Int32 = -1
        defer { if fd >= 0 { FileSystem.close(fd) } }
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while true {
            let progress = shared.progress.withLock { $0 }
            if progress.cancelled { throw Cancelled() }
            // Complete: to the end of the file. Otherwise up to what has landed, or wait for more.
            let end = progress.complete ? nil : Optional(progress.landed)
            if let end, offset >= end {
                _ = wake.wait(timeout: .now() + .milliseconds(50))
                continue
            }
            if fd < 0 {
                fd = try FileSystem.open(path, O_RDONLY)
                Syscalls.adviseSequential(fd)
            }
            let want = end.map { Int(min(Int64(capacity), $0 - offset)) } ?? capacity
            let got = try Syscalls.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset, path: path)
            if got == 0 {
                guard end == nil else { throw SystemError(operation: "read (the file ended early)", path: path, errno: EIO) }
                return (digest.finalize(), offset)
            }
            digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            offset += Int64(got)
        }
    }
}

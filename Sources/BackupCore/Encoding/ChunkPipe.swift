import Dispatch
import Glibc
import Synchronization
import Threads

/// Hands large buffers from the thread that fills them to a thread of its own that consumes
/// them in order (hashes them, writes them), so that hashing and writing overlap reading and
/// compressing instead of taking turns with them. Memory is the pool: `count` buffers of
/// `size` bytes, whatever goes through.
///
/// One producer thread. If the consumer throws, the rest is drained unconsumed and the error
/// comes back from the producer's next call. Without a thread to be had, `post` consumes on
/// the producer's thread.
final class ChunkPipe: @unchecked Sendable {
    /// A buffer of the pool; passed between the two threads, used by one at a time.
    struct Buffer: @unchecked Sendable {
        let bytes: UnsafeMutableRawBufferPointer
    }

    private struct State {
        var free: [Buffer]
        var queue: [(Buffer, Int)] = []
        var ended = false
        var failure: (any Error)?
    }

    private let state: Mutex<State>
    private let freed: DispatchSemaphore
    private let posted = DispatchSemaphore(value: 0)
    private let consume: @Sendable (UnsafeRawBufferPointer) throws -> Void
    private let all: [Buffer]
    private var thread: JoinableThread<Void>?
    /// The buffer `append` is filling, and how far.
    private var current: Buffer?
    private var filled = 0

    init(count: Int = 4, size: Int = 1 << 20, consume: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) {
        all = (0..<count).map { _ in Buffer(bytes: .allocate(byteCount: size, alignment: 4096)) }
        state = Mutex(State(free: all))
        freed = DispatchSemaphore(value: count)
        self.consume = consume
        thread = JoinableThread(ownThread: { [self] in run() })
    }

    deinit {
        for buffer in all { buffer.bytes.deallocate() }
    }

    /// A free buffer to fill; waits while all are in use. Give it back with `post`.
    func take() throws -> Buffer {
        freed.wait()
        let (buffer, failure) = state.withLock { state in (state.free.removeLast(), state.failure) }
        if let failure {
            state.withLock { $0.free.append(buffer) }
            freed.signal()
            throw failure
        }
        return buffer
    }

    /// Hands over the first `count` bytes of a buffer from `take`, for the consumer.
    func post(_ buffer: Buffer, count: Int) throws {
        guard thread != nil else {
            defer { recycle(buffer) }
            try consume(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
            return
        }
        let failure = state.withLock { state in
            state.queue.append((buffer, count))
            return state.failure
        }
        posted.signal()
        if let failure { throw failure }
    }

    /// Copies `bytes` in, posting each buffer as it fills.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let buffer = try current ?? take()
            current = buffer
            let count = min(bytes.count - offset, buffer.bytes.count - filled)
            (buffer.bytes.baseAddress! + filled).copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
            filled += count
            offset += count
            if filled == buffer.bytes.count { try flush() }
        }
    }

    /// Posts what `append` has gathered.
    func flush() throws {
        guard let buffer = current else { return }
        current = nil
        let count = filled
        filled = 0
        if count > 0 { try post(buffer, count: count) } else { recycle(buffer) }
    }

    /// Posts the rest, waits until everything is consumed, and throws the consumer's error.
    func finish() throws {
        try flush()
        state.withLock { $0.ended = true }
        posted.signal()
        _ = thread?.join()
        thread = nil
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }

    /// Ends the consumer without waiting for its result (the producer failed): safe after finish.
    func cancel() {
        if let buffer = current { recycle(buffer) }
        current = nil
        state.withLock { $0.ended = true }
        posted.signal()
        _ = thread?.join()
        thread = nil
    }

    private func recycle(_ buffer: Buffer) {
        state.withLock { $0.free.append(buffer) }
        freed.signal()
    }

    private func run() {
        while true {
            posted.wait()
            let next: (Buffer, Int)?? = state.withLock { state in
                if !state.queue.isEmpty { return .some(state.queue.removeFirst()) }
                return state.ended ? .some(nil) : nil
            }
            guard let item = next else { continue }
            guard let (buffer, count) = item else { return }
            if state.withLock({ $0.failure == nil }) {
                do {
                    try consume(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
                } catch {
                    state.withLock { $0.failure = error }
                }
            }
            recycle(buffer)
        }
    }
}

import Glibc
import Dispatch
import Synchronization
import Threads
import SystemCalls

/// Puts a snapshot that is kept (a directory backup) onto the disk while it is copied, and
/// paces it while the application is writing too.
///
/// Measured on a virtual disk, an application committing with fsync kept 87 % of its throughput
/// while another process wrote 200 MiB/s, 74 % at 400 MiB/s, and 26 % against an unpaced
/// copy: each of its commits flushes the disk, and waits for everything written before it.
/// So the copy goes to the kernel's writeback from a thread of its own (one fsync at the end
/// would queue the whole copy at once), and while the database or its WAL has changed within
/// the last second it goes at most `pace` bytes a second. With the application quiet it goes
/// as fast as the disk allows.
final class PacedWriteback: Sendable {
    /// How often the thread looks at the file and at the application.
    static let tick = Duration.milliseconds(50)
    /// How long after the application's last write the copy is still paced.
    static let calmAfter = Duration.seconds(1)

    private enum Phase { case copying, draining, cancelled }
    private struct Progress { var phase = Phase.copying; var flushed: Int64 = 0; var written: Int64 = 0 }

    /// What the copying thread and the writeback thread share.
    private final class Shared: Sendable {
        let progress = Mutex(Progress())
        let wake = DispatchSemaphore(value: 0)
    }

    private let shared = Shared()
    private let thread: JoinableThread<Void>

    /// - Parameters:
    ///   - file: the snapshot being written.
    ///   - database: the live database; a change of its (or its WAL's) modification time
    ///     means the application is writing.
    ///   - pace: bytes per second while the application writes; nil never paces.
    ///   - tick: how often it looks (tests make it long, to show nothing waits for it).
    init?(file: String, database: String, pace: Int64?, tick: Duration = tick) {
        guard let fd = try? FileSystem.open(file, O_RDONLY) else { return nil }
        let (shared, calmAfter) = (shared, Self.calmAfter)
        thread = JoinableThread {
            defer { FileSystem.close(fd) }
            let clock = ContinuousClock()
            var activity = WriteActivity(database: database, calmAfter: calmAfter)
            var pacer = Pacer(bytesPerSecond: pace)
            var flushed: Int64 = 0
            while true {
                let phase = shared.progress.withLock { $0.phase }
                if phase == .cancelled { return }
                let now = clock.now
                let size = FileSystem.size(of: fd) ?? flushed
                let target = pacer.target(flushed: flushed, size: size, at: now, paced: activity.isWriting(at: now))
                if target > flushed {
                    FileSystem.startWriteback(fd, flushed..<target)
                    flushed = target
                }
                shared.progress.withLock { $0.flushed = flushed; $0.written = size }
                if phase == .draining && flushed >= size { return }
                _ = shared.wake.wait(timeout: .now() + .nanoseconds(Int(tick.nanoseconds)))
            }
        }
    }

    /// Bytes copied but not yet handed to the disk.
    var backlog: Int64 { shared.progress.withLock { $0.written - $0.flushed } }

    /// The copy is complete: hands the rest to the disk at the same pace and returns when all
    /// of it has been (an fsync follows, and then has little left to wait for).
    func finish() {
        shared.progress.withLock { if $0.phase == .copying { $0.phase = .draining } }
        shared.wake.signal()  // not a tick later: a small backup would wait for it
        _ = thread.join()
    }

    /// Stops at once; the file is not wanted. Safe to call more than once, and after finish().
    func cancel() {
        shared.progress.withLock { $0.phase = .cancelled }
        shared.wake.signal()
        _ = thread.join()
    }
}

/// How far a paced copy may be handed to the disk: `bytesPerSecond` while paced, with at
/// most a quarter second saved up (pacing means no bursts); everything while not paced.
/// It starts with one tick's worth (50 ms), so a small backup goes at its first look.
struct Pacer {
    let bytesPerSecond: Int64?
    private var budget: Int64
    private var last: ContinuousClock.Instant?

    init(bytesPerSecond: Int64?) {
        self.bytesPerSecond = bytesPerSecond
        budget = (bytesPerSecond ?? 0) / 20
    }

    /// The file offset up to which the copy may be written now.
    mutating func target(flushed: Int64, size: Int64, at now: ContinuousClock.Instant, paced: Bool) -> Int64 {
        defer { last = now }
        guard paced, let rate = bytesPerSecond else { return size }
        let elapsed = last.map { min((now - $0).nanoseconds, 1_000_000_000) } ?? 0
        budget = min(budget + rate * elapsed / 1_000_000_000, rate / 4)
        let target = max(flushed, min(size, flushed + budget))
        budget -= target - flushed
        return target
    }
}

/// Whether the application is writing, judged by the modification times of the database and
/// its WAL (a commit changes one of them; a reader changes neither): it is while either
/// changed within the last `calmAfter`.
struct WriteActivity {
    let paths: [String]
    let calmAfter: Duration
    private var seen: [Int64?]
    private var lastChange: ContinuousClock.Instant?

    /// - Parameters:
    ///   - now, wallClock: the same moment on both clocks (nanoseconds since the epoch for the
    ///     wall clock, which modification times use). A file modified within `calmAfter` before
    ///     it counts as a write then, so a copy that starts while the application writes is
    ///     paced from its first byte.
    init(database: String, calmAfter: Duration, now: ContinuousClock.Instant = .now,
         wallClock: Int64 = FileSystem.wallClockNanoseconds()) {
        paths = [database, database + "-wal"]
        self.calmAfter = calmAfter
        seen = paths.map(FileSystem.modificationTime(ofNonEmpty:))
        if let newest = seen.compactMap({ $0 }).max() {
            let age = Duration.nanoseconds(max(0, wallClock - newest))
            if age < calmAfter { lastChange = now - age }
        }
    }

    mutating func isWriting(at now: ContinuousClock.Instant) -> Bool {
        let current = paths.map(FileSystem.modificationTime(ofNonEmpty:))
        if current != seen { seen = current; lastChange = now }
        guard let lastChange else { return false }
        return now - lastChange < calmAfter
    }
}

private extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

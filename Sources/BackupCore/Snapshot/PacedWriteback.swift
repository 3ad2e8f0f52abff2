import Dispatch
import Glibc
import Logging
import Synchronization
import SystemCalls
import Threads

/// Puts a snapshot that is kept (a directory backup) onto the disk, at the pace the
/// application can bear while it writes too.
///
/// An application committing with fsync waits, at each commit, for what was written to the
/// disk before it: against an unpaced copy it kept 26 % of its commits on a virtual disk. Worse,
/// while the snapshot's read transaction is open the application's WAL cannot start over, so it
/// grows, and on ext4 each of its commits then also commits the file system's journal, which
/// waits for every block the backup has given the disk meanwhile (data=ordered). So:
///
/// - While the copy is made (the read transaction is open), nothing of it is written, unless it
///   runs more than `maxBacklog` ahead (a large database): the copy goes to the page cache,
///   which takes about a second for 256 MiB, and the read transaction ends.
/// - Then a thread of its own hands the copy to the kernel's writeback a tick's worth at a time
///   (one fsync at the end would queue the whole copy at once), at the rate
///   `WritebackController` finds from the application's commits and the kernel's I/O pressure,
///   with at most two ticks' worth on its way to the disk at any moment.
/// - The file never stays dirty longer than `dirtyFor` (25 s): the kernel writes out a file
///   dirty for 30 s itself, at full speed. So the rate is at least what that deadline needs, and
///   a copy that runs ahead waits until all of it is on disk (the file is clean again) before
///   it goes on.
///
/// With the application quiet it all goes as fast as the disk allows.
final class PacedWriteback: Sendable {
    /// How often the thread looks at the file and at the application.
    static let tick = Duration.milliseconds(50)
    static let logger = Logger(label: "dbbackup.pacing")
    /// Bytes a copy may run ahead of the disk.
    static let maxBacklog: Int64 = 256 << 20
    /// How long the copy may stay dirty in the page cache (the kernel's dirty_expire is 30 s).
    static let dirtyFor = Duration.seconds(25)

    private enum Phase { case copying, draining, cancelled }
    private struct Progress {
        var phase = Phase.copying
        var flushed: Int64 = 0
        var written: Int64 = 0
        /// The copy ran `maxBacklog` ahead and waits until all of it is on disk.
        var behind = false
        var report = Report()
    }

    /// What pacing did, for tests and the journal.
    struct Report: Sendable, Equatable {
        /// Ticks during which the backup was held to a rate, and those it paused in.
        var pacedTicks = 0
        var pausedTicks = 0
        /// The most bytes handed to the disk in one paced tick.
        var mostInOneTick: Int64 = 0
        /// The lowest and highest rate while paced (bytes per second).
        var slowest: Int64?
        var fastest: Int64?
        /// The highest rate the file's deadline asked for (bytes per second).
        var deadline: Int64 = 0
    }

    /// What the copying thread and the writeback thread share.
    private final class Shared: Sendable {
        let progress = Mutex(Progress())
        let wake = DispatchSemaphore(value: 0)
    }

    private let shared = Shared()
    private let thread: JoinableThread<Void>

    /// - Parameters:
    ///   - file: the snapshot being written.
    ///   - database: the live database (its WAL index, its files' modification times).
    ///   - pace: bytes per second at most while the application writes; nil never paces.
    ///   - tick: how often it looks (tests make it long, to show nothing waits for it).
    /// Nil when the file cannot be opened or no thread started: the fsync that follows the
    /// copy then writes it all.
    init?(file: String, database: String, pace: Int64?, tick: Duration = tick) {
        guard let fd = try? FileSystem.open(file, O_RDONLY) else { return nil }
        let shared = shared
        // Never on the caller's thread: the loop ends only when the caller says so.
        guard
            let thread = JoinableThread(ownThread: {
                defer { FileSystem.close(fd) }
                var signals = pace.map { _ in ApplicationSignals(database: database) }
                defer { signals?.close() }
                var controller = pace.map { WritebackController(ceiling: $0, tick: tick) }
                var flushed: Int64 = 0
                // The end of what was handed to the disk at each of the last ticks.
                var handed: [Int64] = []
                // Since when the file holds data not yet on disk.
                var dirtySince: ContinuousClock.Instant?
                var report = Report()
                while true {
                    var (phase, behind) = shared.progress.withLock { ($0.phase, $0.behind) }
                    if phase == .cancelled { return }
                    let now = ContinuousClock.now
                    let size = FileSystem.size(of: fd) ?? flushed
                    if size > flushed && dirtySince == nil { dirtySince = now }
                    let age = dirtySince.map { now - $0 } ?? .zero
                    if size - flushed > PacedWriteback.maxBacklog { behind = true }
                    // While the copy is made, nothing goes to disk: it ends the read transaction
                    // sooner, and the application's commits meanwhile wait for nothing of ours.
                    var holding = phase == .copying && !behind && age < PacedWriteback.dirtyFor / 2
                    var target = size
                    if holding, var current = controller, let look = signals?.look(at: now) {
                        // Only while the application writes: with it quiet, the copy goes to disk
                        // as it is made, the fastest way.
                        holding = current.isWriting(at: now, look: look)
                        if holding { target = flushed }
                        controller = current
                    } else if holding {
                        holding = false
                    } else if var current = controller, let look = signals?.look(at: now) {
                        let decisions = current.decisions
                        let deadline = PacedWriteback.deadlineRate(pending: size - flushed, age: age, tick: tick)
                        target = current.target(
                            flushed: flushed, size: size, at: now, look: look, minimumRate: deadline)
                        if current.decisions != decisions {
                            // Once a second at most, at debug level (DBBACKUP_LOG_LEVEL=debug).
                            let kept =
                                current.lastKept.map { "the application kept \(Int($0 * 100))% of its commits" }
                                ?? "no measure"
                            Self.logger.debug(
                                "pacing: \(kept) (\(current.signal)); now \(max(current.rate, deadline) >> 20) MiB/s")
                        }
                        if current.paces {
                            report.pacedTicks += 1
                            if current.pausing { report.pausedTicks += 1 }
                            report.mostInOneTick = max(report.mostInOneTick, target - flushed)
                            report.slowest = min(report.slowest ?? current.rate, current.rate)
                            report.fastest = max(report.fastest ?? current.rate, current.rate)
                            report.deadline = max(report.deadline, deadline)
                        }
                        controller = current
                    }
                    if target > flushed {
                        FileSystem.startWriteback(fd, flushed..<target)
                        flushed = target
                    }
                    if let current = controller, current.paces, !holding {
                        // At most two ticks' worth on its way to the disk; all of it written
                        // before a pause, so that the pause shows the application alone.
                        handed.append(flushed)
                        let settled = current.pausing ? flushed : handed.count > 2 ? handed[handed.count - 3] : 0
                        FileSystem.waitForWriteback(fd, 0..<settled)
                        if handed.count > 3 { handed.removeFirst(handed.count - 3) }
                    } else {
                        handed.removeAll()
                    }
                    if flushed >= size && dirtySince != nil {
                        // All handed over. Paced: once written, the file is clean, and a copy that
                        // ran ahead may go on. Unpaced, nothing waits: the disk is kept busy.
                        if behind || controller?.paces == true { FileSystem.waitForWriteback(fd, 0..<flushed) }
                        (dirtySince, behind) = (nil, false)
                    }
                    shared.progress.withLock {
                        $0.flushed = flushed
                        $0.written = size
                        $0.behind = behind
                        $0.report = report
                    }
                    if phase == .draining && flushed >= size { return }
                    _ = shared.wake.wait(timeout: .now() + .nanoseconds(Int(WritebackController.seconds(tick) * 1e9)))
                }
            })
        else {
            FileSystem.close(fd)
            return nil
        }
        self.thread = thread
    }

    /// Bytes per second that hand `pending` bytes to the disk before the file has been dirty
    /// for `dirtyFor`, when it has been for `age`.
    static func deadlineRate(pending: Int64, age: Duration, tick: Duration) -> Int64 {
        guard pending > 0 else { return 0 }
        let left = max(WritebackController.seconds(dirtyFor - age), WritebackController.seconds(tick))
        return Int64(Double(pending) / left)
    }

    /// Bytes copied but not yet handed to the disk.
    var backlog: Int64 { shared.progress.withLock { $0.written - $0.flushed } }

    /// Whether the copy should wait for the disk: it ran `maxBacklog` ahead, and waits until
    /// all of it has been written.
    var isBehind: Bool { shared.progress.withLock { $0.behind || $0.written - $0.flushed > PacedWriteback.maxBacklog } }

    /// What pacing did so far.
    var report: Report { shared.progress.withLock { $0.report } }

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

/// How fast a directory backup goes to disk while the application writes: as fast as the
/// application can bear, judged from what it and the kernel say, never faster than the
/// configured ceiling (`pace_mib_per_second`) and never slower than a floor, so that every
/// backup completes.
///
/// No fixed rate is right for every disk: 128 MiB/s left an application 85 % of its commits on
/// one virtual disk and 53 % on another. So the controller measures instead. While the
/// application writes, each cycle of 20 ticks (one second) writes for 17 ticks and pauses for 3;
/// the first paused tick lets the disk finish what it was given, and the last two show how the
/// application does without the backup (a cycle starts with its pause, so this is known before
/// the first byte goes). Comparing the two gives the share of its commits the backup leaves it,
/// whatever the application's own pace and whatever else runs on the host:
///
/// - from its commits, when the database is in WAL mode: the WAL index (`-shm`) counts every
///   write transaction (`WALIndexHeader`), so the rates are exact and the application's own;
/// - otherwise from the kernel's I/O pressure (the time some task waited for I/O, PSI): with
///   `c` the application's own work per commit and `w` its I/O wait, its rate is 1/(c+w) and
///   its stall share p = w/(c+w); its commits kept are (1-p)/(1-p0), p0 being the stall share
///   while the backup pauses.
///
/// The application's own pace is taken over the last three pauses (300 ms), since one pause
/// holds few commits. Then AIMD, as TCP does: while the application keeps less than `keep`
/// (95 %) of its commits the rate halves; while it keeps more, the rate grows by a sixteenth
/// of the ceiling a cycle (doubling at first, from a sixteenth of the ceiling, until the first
/// time the application suffers). A collapse of its commits within a cycle (below half) halves
/// the rate at once and pauses. With the application quiet (no commit for a second) nothing is
/// paced. With no signal at all (no WAL index, no PSI), the ceiling applies while the files
/// change, as before.
///
/// Pure: it is told the time and what was seen, so tests drive it tick by tick.
struct WritebackController {
    /// What the writeback thread sees at each tick. Counters, not rates: they may wrap.
    struct Look: Sendable, Equatable {
        /// The WAL index's change counter (`iChange`), nil where there is none.
        var commits: UInt32?
        /// Total microseconds some task waited for I/O (PSI `some total`), nil where unreadable.
        var stallMicroseconds: UInt64?
        /// Whether the database or its WAL changed within the last second (modification
        /// times): how it is known that the application writes when there is no counter.
        var filesChanged: Bool = false
    }

    /// Bytes per second at most, while the application writes.
    let ceiling: Int64
    /// Bytes per second at least, so that a backup always completes.
    let floor: Int64
    let tick: Duration
    /// The share of its commits the application should keep while the backup writes (the
    /// pauses give it all of them: 95 % then is 96 % over a cycle). Aimed well above the 80 %
    /// a whole backup must leave it, since the copy, its verification and the disk's own delay
    /// cost it more than the cycles show: on this project's VM disk, aiming at 85 % left it
    /// 79-92 % over whole backups, 90 % 79-81 % (69-89 % a round), 95 % 96 % (78-103 %), for
    /// backups a second longer (7.1 s instead of 6.1 s for 64 MiB).
    static let keep = 0.95
    static let cycleTicks = 20
    static let pauseTicks = 3
    /// Pauses the application's own pace is taken over.
    static let pausesRemembered = 3
    /// Fewer commits than this in the remembered pauses tell nothing about the application.
    static let fewestCommits: UInt32 = 10
    /// Without a commit for this long, the application is quiet and nothing is paced.
    static let calmAfter = Duration.seconds(1)

    /// The rate while the application writes.
    private(set) var rate: Int64
    /// Doubling until the application first suffers, then adding.
    private var startingUp = true
    private var budget: Int64 = 0
    private var last: (time: ContinuousClock.Instant, look: Look)?
    private var lastCommit: ContinuousClock.Instant?
    /// Position in the cycle: 0..<cycleTicks while the application writes; nil while quiet.
    private var position: Int?
    /// What the application did while the backup wrote this cycle, and in the last pauses.
    private var active = Window()
    private var pauses: [Window] = []
    /// How many times the rate was decided, and what the application kept then: for the log.
    private(set) var decisions = 0
    private(set) var lastKept: Double?

    /// What the application did while the backup wrote, or paused.
    private struct Window {
        var seconds = 0.0
        var commits: UInt32 = 0
        var stallMicroseconds: UInt64 = 0
        var ticks = 0
        var commitRate: Double { seconds > 0 ? Double(commits) / seconds : 0 }
        var stallShare: Double { seconds > 0 ? min(1, Double(stallMicroseconds) / (seconds * 1_000_000)) : 0 }

        mutating func add(_ other: Self) {
            seconds += other.seconds
            commits &+= other.commits
            stallMicroseconds += other.stallMicroseconds
            ticks += other.ticks
        }
    }

    /// - Parameter ceiling: bytes per second, from `pace_mib_per_second`.
    init(ceiling: Int64, tick: Duration = .milliseconds(50)) {
        self.ceiling = max(1, ceiling)
        floor = max(min(self.ceiling, 1 << 20), self.ceiling / 32)
        self.tick = tick
        rate = max(floor, self.ceiling / 16)
    }

    /// Whether the backup is held to `rate` now (false while the application is quiet).
    var paces: Bool { position != nil }

    /// Whether this tick the backup pauses, so that the application's own pace shows.
    var pausing: Bool { (position ?? 0) >= Self.pauseStart }

    private static var pauseStart: Int { cycleTicks - pauseTicks }

    /// The file offset up to which the copy may be handed to the disk now, having handed it
    /// up to `flushed`, with `size` bytes copied. Call once a tick. `minimumRate`: what the
    /// caller must write at least (a deadline), whatever the application says.
    mutating func target(
        flushed: Int64, size: Int64, at now: ContinuousClock.Instant, look: Look,
        minimumRate: Int64 = 0
    ) -> Int64 {
        let (elapsed, previous, writing) = observe(at: now, look: look)
        let hasSignal = look.commits != nil || look.stallMicroseconds != nil

        // Quiet: nothing to protect, nothing paced.
        guard writing else {
            (position, budget, active, pauses) = (nil, 0, Window(), [])
            return size
        }
        guard let position else {
            // Starts writing: a cycle begins with its pause, so the application's own pace is
            // known before the backup's first byte goes (with nothing to compare: at once).
            if hasSignal && minimumRate <= rate {
                self.position = Self.pauseStart
                return flushed
            }
            self.position = 0
            budget = Self.bytes(max(rate, minimumRate), in: tick)
            return grant(flushed: flushed, size: size)
        }

        // What the last interval showed belongs to the phase it was spent in.
        if let previous {
            var window = Window(seconds: elapsed, ticks: 1)
            if let before = previous.commits, let after = look.commits { window.commits = after &- before }
            if let before = previous.stallMicroseconds, let after = look.stallMicroseconds, after >= before {
                window.stallMicroseconds = after - before
            }
            if position < Self.pauseStart {
                active.add(window)
            } else if position > Self.pauseStart {
                // The first paused tick lets the disk finish: not counted.
                if position == Self.pauseStart + 1 || pauses.isEmpty { pauses.append(Window()) }
                pauses[pauses.count - 1].add(window)
                if pauses.count > Self.pausesRemembered { pauses.removeFirst() }
            }
        }

        var next = position + 1
        if !hasSignal {
            next = 0  // nothing to compare: the ceiling, no pauses
            (rate, active, pauses) = (ceiling, Window(), [])
        } else if next == Self.cycleTicks {
            judge()
            next = 0
        } else if next < Self.pauseStart, collapsed {
            // The application's commits fell below half while the backup writes: do not wait
            // for the end of the cycle.
            decisions += 1
            lastKept = kept
            decrease()
            active = Window()
            next = Self.pauseStart
        }
        self.position = next
        // A pause, unless a deadline overrules the application anyway.
        if pausing && minimumRate <= rate {
            budget = 0
            return flushed
        }
        // Never more than two ticks' worth at once: pacing means no bursts.
        let pace = max(rate, minimumRate)
        budget = min(budget + Self.bytes(pace, in: .nanoseconds(Int64(elapsed * 1e9))), 2 * Self.bytes(pace, in: tick))
        return grant(flushed: flushed, size: size)
    }

    /// Looks without writing anything (the caller holds its writes back): whether the
    /// application writes. The next `target` starts a cycle, with its pause.
    mutating func isWriting(at now: ContinuousClock.Instant, look: Look) -> Bool {
        let writing = observe(at: now, look: look).writing
        (position, budget, active) = (nil, 0, Window())
        return writing
    }

    /// Seconds since the last look, that look, and whether the application writes: it
    /// committed within `calmAfter` (with a counter), or its files changed (without).
    private mutating func observe(
        at now: ContinuousClock.Instant, look: Look
    ) -> (elapsed: Double, previous: Look?, writing: Bool) {
        // A clock that stands still (libfaketime's frozen clock in the tests, or a stalled
        // one) counts a tick per look, as the thread waited one: otherwise no budget would
        // ever build up, and a paced backup would never complete.
        let elapsed = last.map { now > $0.time ? Self.seconds(now - $0.time) : Self.seconds(tick) } ?? 0
        let previous = last?.look
        last = (now, look)
        if let previous, let before = previous.commits, let after = look.commits, after != before { lastCommit = now }
        // Without a counter, a change of the files just before the first look counts as a
        // commit then. With one, only a commit seen counts: an application that committed just
        // before and stays connected (its WAL's time is recent) is not writing, and the
        // backup is not held back for a second.
        if previous == nil && look.filesChanged && look.commits == nil { lastCommit = now }
        let writing =
            look.commits != nil && previous != nil
            ? lastCommit.map { now - $0 < Self.calmAfter } ?? false
            : look.filesChanged
        return (elapsed, previous, writing)
    }

    /// The application's own pace: the remembered pauses together.
    private var idle: Window {
        var total = Window()
        for pause in pauses { total.add(pause) }
        return total
    }

    /// The share of its commits the application keeps while the backup writes, as far as
    /// this cycle and the last pauses show; nil when they cannot tell.
    var kept: Double? {
        let idle = idle
        guard idle.seconds > 0, active.seconds > 0 else { return nil }
        if last?.look.commits != nil {
            guard idle.commits >= Self.fewestCommits else { return nil }
            return active.commitRate / idle.commitRate
        }
        guard last?.look.stallMicroseconds != nil else { return nil }
        return (1 - active.stallShare) / max(0.05, 1 - idle.stallShare)
    }

    /// What the decisions go by: "commits" (the WAL index), "I/O pressure" or "none".
    var signal: String {
        last?.look.commits != nil ? "commits" : last?.look.stallMicroseconds != nil ? "I/O pressure" : "none"
    }

    /// At most as much as the copy holds, spending the budget.
    private mutating func grant(flushed: Int64, size: Int64) -> Int64 {
        let target = max(flushed, min(size, flushed + budget))
        budget -= target - flushed
        return target
    }

    /// At the end of a cycle. A cycle that wrote nothing (the first) decides nothing.
    private mutating func judge() {
        defer { active = Window() }
        guard active.seconds > 0 else { return }
        decisions += 1
        lastKept = kept
        if let kept = lastKept, kept < Self.keep {
            decrease()
        } else {
            rate = min(ceiling, startingUp ? rate * 2 : rate + ceiling / 16)
        }
    }

    private mutating func decrease() {
        rate = max(floor, rate / 2)
        startingUp = false
    }

    /// The commits of the cycle so far, against the application's own pace, fell below half.
    private var collapsed: Bool {
        guard active.ticks >= 4, last?.look.commits != nil, let kept else { return false }
        return kept < 0.5
    }

    static func bytes(_ rate: Int64, in duration: Duration) -> Int64 {
        Int64(Double(rate) * seconds(duration))
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

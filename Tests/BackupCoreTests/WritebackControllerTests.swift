import Foundation
import Testing

@testable import BackupCore

/// The writeback controller driven tick by tick with made-up signals: no clock, no disk.
@Suite("How fast a directory backup goes to disk while the application writes")
struct WritebackControllerTests {
    static let mib: Int64 = 1 << 20
    static let ceiling: Int64 = 128 << 20
    static let tickBytes = WritebackController.bytes(ceiling, in: .milliseconds(50))

    /// Drives a controller over a copy that always has more to write. `commits(tick, pausing)`
    /// and `stall(tick, pausing)` give what the application did during the tick before.
    struct Drive {
        var controller = WritebackController(ceiling: WritebackControllerTests.ceiling)
        let start = ContinuousClock.now
        var tick = 0
        var flushed: Int64 = 0
        var counter: UInt32 = 1_000
        var stall: UInt64 = 0
        /// Bytes handed to the disk at each tick, and whether the tick paused.
        var handed: [(bytes: Int64, pausing: Bool, rate: Int64)] = []

        mutating func run(
            _ ticks: Int, commits: ((Bool) -> UInt32)? = { _ in 50 }, stallShare: ((Bool) -> Double)? = nil,
            filesChanged: Bool = true
        ) {
            for _ in 0..<ticks {
                // What happened during the last tick depends on whether it paused.
                let pausedBefore = controller.pausing && controller.paces
                if let commits { counter &+= commits(pausedBefore) }
                if let stallShare { stall += UInt64(stallShare(pausedBefore) * 50_000) }
                let look = WritebackController.Look(
                    commits: commits == nil ? nil : counter,
                    stallMicroseconds: stallShare == nil ? nil : stall, filesChanged: filesChanged)
                let size = flushed + 1 << 30
                let target = controller.target(
                    flushed: flushed, size: size, at: start + .milliseconds(50 * tick), look: look)
                handed.append((target - flushed, controller.pausing && controller.paces, controller.rate))
                flushed = target
                tick += 1
            }
        }
    }

    @Test("an application that writes nothing: everything copied goes to disk at once")
    func quiet() {
        var drive = Drive()
        drive.run(40, commits: { _ in 0 }, filesChanged: false)
        #expect(drive.handed.allSatisfy { $0.bytes == 1 << 30 })
        #expect(!drive.controller.paces)
    }

    @Test(
        """
        an application that keeps its commits: a pause first, then the rate doubles from a sixteenth of the \
        ceiling up to it, and stays; 3 ticks in 20 pause
        """
    )
    func calmApplication() {
        var drive = Drive()
        drive.run(3 + 20 * 8)
        #expect(drive.controller.rate == Self.ceiling)
        #expect(
            drive.handed.prefix(3).allSatisfy { $0.pausing && $0.bytes == 0 },
            "its own pace is measured before the first byte")
        #expect(
            drive.handed.allSatisfy { $0.bytes <= 2 * Self.tickBytes },
            "never more than two ticks at the ceiling at once")
        let rates = drive.handed.dropFirst(3).map(\.rate)
        #expect(rates.first == Self.ceiling / 16)
        #expect(
            Set(rates).sorted() == [
                Self.ceiling / 16, Self.ceiling / 8, Self.ceiling / 4, Self.ceiling / 2, Self.ceiling,
            ])
        for cycle in 0..<8 {
            let ticks = drive.handed[(3 + cycle * 20)..<(3 + cycle * 20 + 20)]
            #expect(ticks.filter(\.pausing).count == 3)
            #expect(ticks.filter(\.pausing).allSatisfy { $0.bytes == 0 })
        }
        let last = drive.handed.suffix(20).filter { !$0.pausing }
        #expect(last.count == 17)
        #expect(last.allSatisfy { $0.bytes == Self.tickBytes }, "the ceiling, a tick's worth each tick")
    }

    @Test(
        """
        an application that loses half its commits while the backup writes: the rate halves each second down to \
        the floor, and the backup still goes on
        """
    )
    func sufferingApplication() {
        var drive = Drive()
        drive.run(3 + 20 * 5)  // at the ceiling
        #expect(drive.controller.rate == Self.ceiling)
        drive.run(20 * 6, commits: { pausing in pausing ? 50 : 26 })
        let floor = drive.controller.floor
        #expect(floor == Self.ceiling / 32)
        #expect(drive.controller.rate == floor)
        let ratePerCycle = stride(from: 103, to: 3 + 20 * 11, by: 20).map { drive.handed[$0].rate }
        #expect(
            ratePerCycle == [
                Self.ceiling, Self.ceiling / 2, Self.ceiling / 4, Self.ceiling / 8, Self.ceiling / 16,
                Self.ceiling / 32,
            ])
        // Never stopped: every writing tick of the last cycle hands the floor's worth over.
        let writing = drive.handed.suffix(20).filter { !$0.pausing }
        #expect(writing.count == 17)
        #expect(writing.allSatisfy { $0.bytes == WritebackController.bytes(floor, in: .milliseconds(50)) })
    }

    @Test("after the application suffered, the rate grows by a sixteenth of the ceiling a second while it is calm")
    func additiveIncrease() {
        var drive = Drive()
        drive.run(3 + 20 + 1, commits: { pausing in pausing ? 50 : 26 })  // judged at tick 23
        let low = drive.controller.rate
        #expect(low == drive.controller.floor)
        drive.run(20 * 3)
        #expect(drive.controller.rate == low + 3 * Self.ceiling / 16)
    }

    @Test(
        """
        commits that collapse while the backup writes halve the rate at once and pause, without waiting for the \
        end of the second
        """
    )
    func collapse() {
        var drive = Drive()
        drive.run(3 + 20 + 1)  // a calm first second, judged
        let before = drive.controller.rate
        drive.run(4, commits: { pausing in pausing ? 50 : 5 })
        #expect(drive.controller.rate == before / 2)
        #expect(drive.handed.suffix(2).map(\.pausing) == [false, true], "\(drive.handed.suffix(6).map(\.pausing))")
        drive.run(1)
        #expect(drive.handed.last?.pausing == true)
        #expect(drive.handed.last?.bytes == 0)
    }

    @Test("a counter that wraps around counts on")
    func wrappingCounter() {
        var drive = Drive()
        drive.counter = UInt32.max - 200
        drive.run(3 + 20 * 5)
        #expect(drive.controller.rate == Self.ceiling)
    }

    @Test(
        "the application stops writing: a second later nothing is paced; it starts again: a pause at once, then paced")
    func stopsAndStarts() {
        var drive = Drive()
        drive.run(30)
        #expect(drive.controller.paces)
        drive.run(19, commits: { _ in 0 })
        #expect(drive.controller.paces, "less than a second without a commit")
        drive.run(2, commits: { _ in 0 })
        #expect(!drive.controller.paces)
        #expect(drive.handed.last?.bytes == 1 << 30)
        drive.run(1)
        #expect(drive.controller.paces)
        #expect(drive.handed.last!.bytes == 0)
        #expect(drive.handed.last!.pausing)
    }

    @Test("without a commit counter, the kernel's I/O pressure decides: the share of commits kept is (1-p)/(1-p0)")
    func ioPressure() {
        // p0 = 0.1 while the backup pauses. p = 0.5 while it writes: 0.5/0.9 = 56 % kept.
        var suffering = Drive()
        suffering.run(24, commits: nil, stallShare: { pausing in pausing ? 0.1 : 0.5 })
        #expect(suffering.controller.lastKept.map { abs($0 - 0.5 / 0.9) < 0.01 } == true)
        #expect(suffering.controller.rate == Self.ceiling / 32)
        // p = 0.12: 0.88/0.9 = 98 % kept, above 95 %: faster.
        var calm = Drive()
        calm.run(24, commits: nil, stallShare: { pausing in pausing ? 0.1 : 0.12 })
        #expect(calm.controller.rate == Self.ceiling / 8)
        // p = 0.16: 0.84/0.9 = 93 %: slower.
        var borderline = Drive()
        borderline.run(24, commits: nil, stallShare: { pausing in pausing ? 0.1 : 0.16 })
        #expect(borderline.controller.rate == Self.ceiling / 32)
        #expect(borderline.handed.filter(\.pausing).count == 6)
    }

    @Test("with neither counter nor pressure: the ceiling while the files change, and no pause")
    func noSignal() {
        var drive = Drive()
        drive.run(60, commits: nil, stallShare: nil, filesChanged: true)
        #expect(drive.handed.dropFirst().allSatisfy { $0.bytes == Self.tickBytes && !$0.pausing })
        var quiet = Drive()
        quiet.run(5, commits: nil, stallShare: nil, filesChanged: false)
        #expect(quiet.handed.allSatisfy { $0.bytes == 1 << 30 })
    }

    @Test("a few commits while the backup pauses tell nothing: no slowing down for them")
    func tooFewCommits() {
        var drive = Drive()
        drive.run(3 + 20 * 5, commits: { pausing in pausing ? 1 : 0 })
        #expect(drive.controller.rate == Self.ceiling)
    }

    @Test("a deadline overrules the application: at least its rate, and no pause")
    func deadline() {
        var drive = Drive()
        drive.run(3 + 20 * 4, commits: { pausing in pausing ? 50 : 26 })
        #expect(drive.controller.rate == drive.controller.floor)
        let minimum = 40 * Self.mib
        var handed: [Int64] = []
        for _ in 0..<40 {
            drive.counter &+= 26
            let look = WritebackController.Look(commits: drive.counter, filesChanged: true)
            let target = drive.controller.target(
                flushed: drive.flushed, size: drive.flushed + 1 << 30,
                at: drive.start + .milliseconds(50 * drive.tick), look: look, minimumRate: minimum)
            handed.append(target - drive.flushed)
            (drive.flushed, drive.tick) = (target, drive.tick + 1)
        }
        #expect(handed.allSatisfy { $0 == WritebackController.bytes(minimum, in: .milliseconds(50)) }, "\(handed)")
    }

    @Test("the deadline: what is left, over the time left of 25 seconds dirty, or all of it in the last tick")
    func deadlineRate() {
        #expect(
            PacedWriteback.deadlineRate(pending: 250 * Self.mib, age: .seconds(0), tick: .milliseconds(50)) == 10
                * Self.mib)
        #expect(
            PacedWriteback.deadlineRate(pending: 100 * Self.mib, age: .seconds(15), tick: .milliseconds(50)) == 10
                * Self.mib)
        #expect(
            PacedWriteback.deadlineRate(pending: Self.mib, age: .seconds(40), tick: .milliseconds(50)) == 20 * Self.mib)
        #expect(PacedWriteback.deadlineRate(pending: 0, age: .seconds(40), tick: .milliseconds(50)) == 0)
    }

    @Test(
        """
        looking while the backup holds its writes tells whether the application writes; writing then starts with \
        a pause
        """
    )
    func holding() {
        var drive = Drive()
        var counter: UInt32 = 7
        for tick in 0..<10 {
            counter &+= 30
            let look = WritebackController.Look(commits: counter, filesChanged: true)
            let writing = drive.controller.isWriting(at: drive.start + .milliseconds(50 * tick), look: look)
            #expect(writing)
        }
        #expect(!drive.controller.paces)
        (drive.tick, drive.counter) = (10, counter)
        drive.run(4)
        #expect(drive.handed.map(\.pausing) == [true, true, true, false])
        #expect(drive.handed.last!.bytes == WritebackController.bytes(Self.ceiling / 16, in: .milliseconds(50)))
        var quiet = WritebackController(ceiling: Self.ceiling)
        let start = ContinuousClock.now
        let looks = [
            quiet.isWriting(at: start, look: .init(commits: 5)),
            quiet.isWriting(at: start + .milliseconds(50), look: .init(commits: 5)),
        ]
        #expect(looks == [false, false], "no commit, no change of the files")
    }

    @Test(
        """
        an application that committed just before the backup and is quiet since: with a counter, nothing held \
        after the first look
        """
    )
    func committedJustBefore() {
        var drive = Drive()
        // Its files changed within the last second, but the counter stands still.
        drive.run(3, commits: { _ in 0 }, filesChanged: true)
        #expect(!drive.controller.paces)
        #expect(drive.handed.dropFirst().allSatisfy { $0.bytes == 1 << 30 }, "\(drive.handed.map(\.bytes))")
    }

    @Test(
        """
        a clock that stands still (libfaketime freezes it in the tests): each look counts a tick, and the backup \
        goes on
        """
    )
    func frozenClock() {
        var controller = WritebackController(ceiling: Self.ceiling)
        let frozen = ContinuousClock.now
        var (flushed, counter): (Int64, UInt32) = (0, 1)
        var handed: [Int64] = []
        for _ in 0..<40 {
            counter &+= 50
            let target = controller.target(
                flushed: flushed, size: flushed + 1 << 30, at: frozen,
                look: .init(commits: counter, filesChanged: true))
            handed.append(target - flushed)
            flushed = target
        }
        #expect(controller.paces)
        #expect(handed.filter { $0 > 0 }.count >= 30, "\(handed)")
        #expect(handed.allSatisfy { $0 <= 2 * Self.tickBytes })
    }

    @Test("a small ceiling: the floor is 1 MiB/s, or the ceiling itself below that")
    func floors() {
        #expect(WritebackController(ceiling: 128 << 20).floor == 4 << 20)
        #expect(WritebackController(ceiling: 8 << 20).floor == 1 << 20)
        #expect(WritebackController(ceiling: 512 << 10).floor == 512 << 10)
    }
}

@Suite("What the writeback controller looks at", .serialized)
struct ApplicationSignalTests {
    @Test("the WAL index counts every committed write transaction, and nothing else")
    func walIndexCountsCommits() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 10, wal: true)
        let writer = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        _ = try writer.scalar("SELECT count(*) FROM items")
        var index = WALIndexHeader(database: sandbox.database)
        var counter = index.changeCounter()
        let start = try #require(counter)
        for row in 0..<7 { try writer.execute("INSERT INTO items (payload) VALUES ('commit \(row)')") }
        counter = index.changeCounter()
        #expect(counter == start &+ 7)
        try writer.execute(
            "BEGIN; INSERT INTO items (payload) VALUES ('a'); INSERT INTO items (payload) VALUES ('b'); COMMIT")
        counter = index.changeCounter()
        #expect(counter == start &+ 8, "one transaction, one count")
        try writer.execute("BEGIN; INSERT INTO items (payload) VALUES ('undone'); ROLLBACK")
        _ = try writer.scalar("SELECT count(*) FROM items")
        let reader = try SQLiteConnection(path: sandbox.database, mode: .readOnly)
        _ = try reader.scalar("SELECT count(*) FROM items")
        _ = try writer.scalar("PRAGMA wal_checkpoint(PASSIVE)")
        counter = index.changeCounter()
        #expect(counter == start &+ 8, "reads, a rollback and a checkpoint are not commits")
        // Another process's commits count the same.
        let other = try runProcess(
            "/usr/bin/sqlite3", [sandbox.database, "INSERT INTO items (payload) VALUES ('other process')"])
        #expect(other.status == 0)
        counter = index.changeCounter()
        #expect(counter == start &+ 9)
        index.close()
    }

    @Test("no WAL index (a rollback-journal database) means no counter; a header whose two copies differ is not read")
    func noWALIndex() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 10, wal: false)
        var index = WALIndexHeader(database: sandbox.database)
        let counter = index.changeCounter()
        #expect(counter == nil)
        var header = [UInt8](repeating: 0, count: 96)
        withUnsafeBytes(of: WALIndexHeader.version) { header.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: UInt32(41)) { header.replaceSubrange(8..<12, with: $0) }
        header[12] = 1
        header.replaceSubrange(48..<96, with: header[0..<48])
        #expect(WALIndexHeader.changeCounter(header) == 41)
        header[56] = 42  // the second copy's counter: a writer between the two
        #expect(WALIndexHeader.changeCounter(header) == nil)
    }

    @Test("the kernel's I/O pressure: the `some` line's total, read again at every look")
    func ioPressure() throws {
        let text =
            "some avg10=1.50 avg60=0.20 avg300=0.05 total=123456789\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=42\n"
        #expect(IOPressure.someTotal(text) == 123_456_789)
        #expect(IOPressure.someTotal("full avg10=0.00 total=42\n") == nil)
        #expect(IOPressure.open(candidates: ["/nonexistent/io.pressure"]) == nil)
        // Where this kernel has PSI, the reader follows it (monotonic; the machine's own I/O).
        guard let pressure = IOPressure.open() else { return }
        defer { pressure.close() }
        let first = try #require(pressure.someTotal())
        let sandbox = try Sandbox()
        try sandbox.write(String(repeating: "x", count: 1 << 20), to: "some.io")
        _ = try runProcess("/bin/sync", [])
        let second = try #require(pressure.someTotal())
        #expect(second >= first)
    }
}

@testable import BackupCore
import Foundation
import Testing

@Suite("Pacing a directory backup's writes while the application writes")
struct PacedWritebackTests {
    let mib: Int64 = 1 << 20

    /// The offset the pacer allows at `milliseconds` after the start.
    func pacing(_ rate: Int64?) -> (_ flushed: Int64, _ size: Int64, _ milliseconds: Int, _ paced: Bool) -> Int64 {
        var pacer = Pacer(bytesPerSecond: rate)
        let start = ContinuousClock.now
        return { flushed, size, milliseconds, paced in
            pacer.target(flushed: flushed, size: size, at: start + .milliseconds(milliseconds), paced: paced)
        }
    }

    @Test("unpaced, everything copied so far may go to disk at once")
    func unpaced() {
        #expect(pacing(100 << 20)(0, 500 * mib, 0, false) == 500 * mib)
        #expect(pacing(nil)(0, 500 * mib, 0, true) == 500 * mib, "pace 0 (nil) never paces")
    }

    @Test("paced, the disk gets the rate, never a burst of more than a quarter second, never past the end")
    func paced() {
        let target = pacing(100 << 20)
        #expect(target(0, 500 * mib, 0, true) == 5 * mib, "one tick (50 ms) saved up at first")
        #expect(target(5 * mib, 500 * mib, 50, true) == 10 * mib)
        #expect(target(10 * mib, 500 * mib, 100, true) == 15 * mib)
        // A long gap (the thread was not scheduled) saves up at most a quarter second.
        #expect(target(15 * mib, 500 * mib, 10_000, true) == 40 * mib)
        // Near the end of the copy the target stops at what has been copied.
        #expect(target(40 * mib, 41 * mib, 10_100, true) == 41 * mib)
        // The application went quiet: the rest goes at once.
        #expect(target(41 * mib, 400 * mib, 10_150, false) == 400 * mib)
    }

    @Test("a small backup goes at the first look, even paced")
    func smallPaced() {
        #expect(pacing(128 << 20)(0, 1 * mib, 0, true) == 1 * mib)
    }

    @Test("a change to the database or its WAL counts as writing, for one second")
    func activity() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(wal: true)
        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute("INSERT INTO items (payload) VALUES ('a commit, so the WAL has content')")
        let reader = try SQLiteConnection(path: sandbox.database, mode: .readOnly)
        _ = try reader.scalar("SELECT count(*) FROM items")
        for file in [sandbox.database, sandbox.database + "-wal"] { try setModificationTime(file, secondsAgo: 100) }
        var activity = WriteActivity(database: sandbox.database, calmAfter: .seconds(1))
        let start = ContinuousClock.now
        func writing(after milliseconds: Int) -> Bool { activity.isWriting(at: start + .milliseconds(milliseconds)) }
        #expect(!writing(after: 0), "nothing written within a second before it started looking")
        _ = try reader.scalar("SELECT count(*) FROM items")
        #expect(!writing(after: 50), "a reader is not a writer")

        try setModificationTime(sandbox.database + "-wal", secondsAgo: 50)  // a commit, from the outside
        #expect(writing(after: 100))
        #expect(writing(after: 1_050))
        #expect(!writing(after: 1_150), "calm one second after the last change")

        try db.execute("INSERT INTO items (payload) VALUES ('a real commit')")
        try setModificationTime(sandbox.database + "-wal", secondsAgo: 10)  // mtime may not tick within one test
        #expect(writing(after: 1_200))
    }

    @Test("a write just before it started looking counts; an empty WAL (a reader opening the database makes one) does not")
    func activityAtTheStart() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(wal: true)
        try setModificationTime(sandbox.database, secondsAgo: 100)
        let reader = try SQLiteConnection(path: sandbox.database, mode: .readOnly)
        _ = try reader.scalar("SELECT count(*) FROM items")
        #expect(FileManager.default.fileExists(atPath: sandbox.database + "-wal"), "the reader made an empty WAL just now")
        var quiet = WriteActivity(database: sandbox.database, calmAfter: .seconds(1))
        let quietNow = quiet.isWriting(at: .now)
        #expect(!quietNow)

        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute("INSERT INTO items (payload) VALUES ('a commit')")
        try setModificationTime(sandbox.database + "-wal", milliseconds: 300)
        let now = ContinuousClock.now
        var busy = WriteActivity(database: sandbox.database, calmAfter: .seconds(1), now: now)
        let busyAt = [0, 600, 800].map { busy.isWriting(at: now + .milliseconds($0)) }
        #expect(busyAt == [true, true, false], "a commit 300 ms before the copy started paces it from its first byte, until a second after the commit")
    }

    private func setModificationTime(_ path: String, milliseconds: Int) throws {
        let date = Date(timeIntervalSinceNow: -Double(milliseconds) / 1000)
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
    }

    private func setModificationTime(_ path: String, secondsAgo: Int) throws {
        try setModificationTime(path, milliseconds: secondsAgo * 1000)
    }

    @Test("finish() and cancel() wake the thread: nothing waits for its next look")
    func finishDoesNotWaitForATick() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(wal: true)
        try sandbox.write(String(repeating: "x", count: 1 << 20), to: "copy.db")
        for end in ["finish", "cancel"] {
            let writeback = try #require(PacedWriteback(file: "\(sandbox.root)/copy.db", database: sandbox.database, pace: nil, tick: .seconds(60)))
            usleep(50_000)  // the thread has had its first look and sleeps until the next one
            let started = ContinuousClock.now
            if end == "finish" { writeback.finish() } else { writeback.cancel() }
            #expect(ContinuousClock.now - started < .seconds(30), "\(end)() returned without waiting for the 60 s tick")
        }
    }

    @Test("a paced directory snapshot under a writer completes, consistent, and at the pace")
    func pacedSnapshotUnderLoad() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 24_000, wal: true)  // about 6 MiB
        let stopFile = "\(sandbox.root)/stop"
        let writer = try WriterProcess(database: sandbox.database, stopFile: stopFile)
        let staging = "\(sandbox.root)/paced.db"
        let started = ContinuousClock.now
        let result = try Snapshot.take(database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 30_000,
                                       durable: true, pace: 4 << 20)
        let elapsed = ContinuousClock.now - started
        _ = try writer.stop(stopFile: stopFile)

        let copy = try SQLiteConnection(path: staging, mode: .readOnly)
        #expect(try copy.scalar("PRAGMA integrity_check") == "ok")
        #expect(try copy.scalar("SELECT count(*) FROM a") == copy.scalar("SELECT count(*) FROM b"))
        #expect(result.size == (try FileManager.default.attributesOfItem(atPath: staging)[.size] as? Int).map(Int64.init))
        // Unpaced, this copy takes some 50 ms here; at 4 MiB/s its writes need at least 1.4 s.
        // (A lower bound only: a slower machine cannot make it fail.)
        #expect(elapsed > .milliseconds(1_000), "the writes were paced: \(elapsed) for \(result.size) bytes")
    }
}

import Foundation
import SystemCalls
import Testing

@testable import BackupCore

@Suite("Pacing a directory backup's writes while the application writes", .serialized)
struct PacedWritebackTests {
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

    @Test(
        "a write just before it started looking counts; an empty WAL (a reader opening the database makes one) does not"
    )
    func activityAtTheStart() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(wal: true)
        try setModificationTime(sandbox.database, secondsAgo: 100)
        let reader = try SQLiteConnection(path: sandbox.database, mode: .readOnly)
        _ = try reader.scalar("SELECT count(*) FROM items")
        #expect(
            FileManager.default.fileExists(atPath: sandbox.database + "-wal"), "the reader made an empty WAL just now")
        var quiet = WriteActivity(database: sandbox.database, calmAfter: .seconds(1))
        let quietNow = quiet.isWriting(at: .now)
        #expect(!quietNow)

        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute("INSERT INTO items (payload) VALUES ('a commit')")
        try setModificationTime(sandbox.database + "-wal", milliseconds: 300)
        let now = ContinuousClock.now
        var busy = WriteActivity(database: sandbox.database, calmAfter: .seconds(1), now: now)
        let busyAt = [0, 600, 800].map { busy.isWriting(at: now + .milliseconds($0)) }
        #expect(
            busyAt == [true, true, false],
            "a commit 300 ms before the copy started paces it from its first byte, until a second after the commit")
    }

    @Test("a modification time ahead of the wall clock (a clock set back, or faked) does not count as a write")
    func modificationTimeInTheFuture() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(wal: true)
        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute("INSERT INTO items (payload) VALUES ('a commit')")
        let now = ContinuousClock.now
        // The wall clock says the files were written a day from now.
        var activity = WriteActivity(
            database: sandbox.database, calmAfter: .seconds(1), now: now,
            wallClock: FileSystem.wallClockNanoseconds() - 86_400_000_000_000)
        let writing = activity.isWriting(at: now)
        #expect(!writing)
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
            let writeback = try #require(
                PacedWriteback(
                    file: "\(sandbox.root)/copy.db", database: sandbox.database, pace: nil, tick: .seconds(60)))
            usleep(50_000)  // the thread has had its first look and sleeps until the next one
            let started = ContinuousClock.now
            if end == "finish" { writeback.finish() } else { writeback.cancel() }
            #expect(ContinuousClock.now - started < .seconds(30), "\(end)() returned without waiting for the 60 s tick")
        }
    }

    @Test("a paced directory snapshot under a writer completes, consistent, and within the ceiling")
    func pacedSnapshotUnderLoad() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 24_000, wal: true)  // about 6 MiB
        let stopFile = "\(sandbox.root)/stop"
        let writer = try WriterProcess(database: sandbox.database, stopFile: stopFile)
        let staging = "\(sandbox.root)/paced.db"
        let ceiling: Int64 = 64 << 20
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 30_000,
            durable: true, pace: ceiling)
        _ = try writer.stop(stopFile: stopFile)

        let copy = try SQLiteConnection(path: staging, mode: .readOnly)
        #expect(try copy.scalar("PRAGMA integrity_check") == "ok")
        #expect(try copy.scalar("SELECT count(*) FROM a") == copy.scalar("SELECT count(*) FROM b"))
        #expect(
            result.size == (try FileManager.default.attributesOfItem(atPath: staging)[.size] as? Int).map(Int64.init))
        // The writer committed throughout: the copy was held to a rate, never above the ceiling,
        // never more than two ticks' worth at once (what the disk was given, not how long it took).
        let pacing = try #require(result.pacing)
        #expect(pacing.pacedTicks > 0)
        #expect(pacing.fastest.map { $0 <= ceiling } ?? false, "\(pacing)")
        #expect(
            pacing.mostInOneTick <= 2 * WritebackController.bytes(ceiling, in: PacedWriteback.tick) + 1, "\(pacing)")
    }
}

import Foundation
import Hashing
import SystemCalls
import Testing

@testable import BackupCore

@Suite("Snapshots copied as files, and when SQLite must copy instead")
struct FileCopySnapshotTests {
    func permissions(_ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }

    /// The digests the snapshot computed (following the copy, or after it) are those of the file.
    func expectDigests(_ result: Snapshot.Result, of staging: String) throws {
        let (sha256, size) = try FileSystem.sha256(of: staging)
        #expect(result.sha256 == sha256)
        #expect(result.size == size)
        #expect(result.digests.md5 == (try FileSystem.digest(.md5, of: staging).digest))
    }

    @Test("digests follow the bytes as they land, finish at the end of the file, and stop when cancelled")
    func followingDigests() throws {
        let sandbox = try Sandbox()
        let path = "\(sandbox.root)/growing"
        let fd = try FileSystem.open(path, O_WRONLY | O_CREAT)
        defer { FileSystem.close(fd) }
        let digests = StagingDigests(of: path, algorithms: [.sha256, .md5])
        var written: [UInt8] = []
        for round in 0..<20 {
            let chunk = (0..<(100_000 + round)).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            try FileSystem.writeAll(fd, chunk, path: path)
            written += chunk
            digests.landed(Int64(written.count))
            usleep(2_000)
        }
        digests.complete()
        let results = digests.results()
        #expect(try results[0].get().digest == Digest.hash(.sha256, written))
        #expect(try results[1].get().digest == Digest.hash(.md5, written))
        #expect(try results[0].get().size == Int64(written.count))

        let stalled = StagingDigests(of: path, algorithms: [.sha256])
        stalled.landed(10)
        let started = ContinuousClock.now
        stalled.cancel()
        #expect(ContinuousClock.now - started < .seconds(1), "waiting for bytes that never land ends at cancel()")
        #expect(throws: (any Error).self) { try stalled.results()[0].get() }
    }

    @Test("an empty WAL: the file is copied, and commits and a checkpoint during the copy do not reach the copy")
    func walWithoutFrames() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 3000, wal: true)
        #expect(
            !FileManager.default.fileExists(atPath: sandbox.database + "-wal"),
            "closing the last connection checkpointed and removed the WAL")
        let staging = "\(sandbox.root)/staging.db"
        var checkpointed: [String] = []
        var steps = 0
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 1000,
            md5: true, pagesPerStep: 8
        ) { _, _ in
            steps += 1
            guard steps == 1 else { return }
            // Mid-copy, another connection rewrites every row, adds rows, and asks for a checkpoint.
            let writer = try! SQLiteConnection(path: sandbox.database, mode: .readWrite, busyTimeoutMilliseconds: 0)
            try! writer.execute(
                """
                BEGIN; UPDATE items SET payload = 'changed'; INSERT INTO items (payload) SELECT payload FROM \
                items; COMMIT
                """
            )
            let row = try! writer.prepare("PRAGMA wal_checkpoint(PASSIVE)")
            if try! row.step() { checkpointed = (0..<3).map { row.text($0) ?? "" } }
        }
        #expect(result.method == .fileCopy)
        #expect(steps > 10, "the copy went in steps: \(steps)")
        #expect(
            checkpointed.count == 3 && checkpointed[1] != "0" && checkpointed[2] == "0",
            "the checkpoint found frames in the WAL and could copy none into the file: \(checkpointed)")
        let copy = try SQLiteConnection(path: staging, mode: .readOnly)
        #expect(try copy.scalar("PRAGMA integrity_check") == "ok")
        #expect(try copy.scalar("SELECT count(*) FROM items") == "3000")
        #expect(try copy.scalar("SELECT count(*) FROM items WHERE payload = 'changed'") == "0")
        #expect(try permissions(staging) == 0o600)
        try expectDigests(result, of: staging)
        let live = try SQLiteConnection(path: sandbox.database, mode: .readOnly)
        #expect(
            try live.scalar("SELECT count(*) FROM items WHERE payload = 'changed'") == "6000",
            "the application's writes all went in")
    }

    @Test("a rollback journal: the file is copied while writers wait for it")
    func rollbackJournal() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 3000, wal: false)
        let staging = "\(sandbox.root)/staging.db"
        let writer = try SQLiteConnection(path: sandbox.database, mode: .readWrite, busyTimeoutMilliseconds: 0)
        var refused: Bool?
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 1000,
            pagesPerStep: 8
        ) { _, _ in
            guard refused == nil else { return }
            do throws(SQLiteError) {
                try writer.execute("UPDATE items SET payload = 'changed'")
                refused = false
            } catch {
                refused = error.isBusy
            }
        }
        #expect(result.method == .fileCopy)
        #expect(refused == true, "a writer cannot commit while the copy holds its read transaction")
        let copy = try SQLiteConnection(path: staging, mode: .readOnly)
        #expect(try copy.scalar("PRAGMA integrity_check") == "ok")
        #expect(try copy.scalar("SELECT count(*) FROM items WHERE payload = 'changed'") == "0")
        try writer.execute("UPDATE items SET payload = 'changed'")  // and once it is done, it can
    }

    @Test("pages still in the WAL: SQLite's online backup copies them")
    func walWithFrames() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 3000, wal: true)
        let application = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try application.execute("PRAGMA wal_autocheckpoint = 0; INSERT INTO items (payload) SELECT payload FROM items")
        let staging = "\(sandbox.root)/staging.db"
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 1000, md5: true)
        #expect(result.method == .onlineBackup)
        try expectDigests(result, of: staging)
        let copy = try SQLiteConnection(path: staging, mode: .readOnly)
        #expect(try copy.scalar("PRAGMA integrity_check") == "ok")
        #expect(try copy.scalar("SELECT count(*) FROM items") == "6000", "the rows only the WAL holds are in the copy")
        #expect(try permissions(staging) == 0o600)
    }

    @Test(
        "byte ranges are copied exactly, in the kernel and through the buffer; a short input is an error",
        arguments: [true, false])
    func rangeCopier(inKernel: Bool) throws {
        let sandbox = try Sandbox()
        let bytes = (0..<(3 << 20) + 12_345).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(sandbox.root)/in"))
        let input = try FileSystem.open("\(sandbox.root)/in", O_RDONLY)
        defer { FileSystem.close(input) }
        let output = try FileSystem.open("\(sandbox.root)/out", O_WRONLY | O_CREAT)
        defer { FileSystem.close(output) }
        let copier = RangeCopier(from: input, "in", to: output, "out", inKernel: inKernel)
        let size = Int64(bytes.count)
        // Out of order and unaligned: each range lands at its own offset.
        for range in [Int64(1 << 20)..<size, 0..<Int64(4_097), 4_097..<Int64(1 << 20)] { try copier.copy(range) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(sandbox.root)/out")) == Data(bytes))
        #expect(throws: SystemError.self) { try copier.copy(size - 10..<size + 10) }
    }
}

import Foundation
import Hashing
import Synchronization
import SystemCalls
import Testing

@testable import BackupCore

/// The snapshot as an upload that starts with the copy sees it: what the copy will be, known
/// inside its transaction, and each part's digests as soon as that part is final.
@Suite("Snapshots hashed in parts for an upload during the copy")
struct PartwiseSnapshotTests {
    final class Received: Sendable {
        let parts = Mutex<[Snapshot.Part]>([])
        var count: Int { parts.withLock { $0.count } }
    }

    /// A WAL database of about 24 MiB (random blobs: the parts' digests all differ).
    func bigDatabase(_ sandbox: Sandbox) throws {
        try sandbox.makeDatabase(rows: 10, version: 7, wal: true)
        let db = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try db.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24000) INSERT INTO items \
            (payload) SELECT hex(randomblob(500)) FROM n
            """
        )
    }

    /// Every part was handed in once, in order of the file, and each part's digests are those of its bytes.
    func expectParts(_ parts: [Snapshot.Part], partSize: Int64, of staging: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: staging)))
        let expectedCount = max(1, (bytes.count + Int(partSize) - 1) / Int(partSize))
        #expect(parts.map(\.index).sorted() == Array(0..<expectedCount))
        for part in parts {
            let start = part.index * Int(partSize)
            let slice = bytes[start..<min(bytes.count, start + Int(partSize))]
            #expect(part.length == Int64(slice.count))
            #expect(part.sha256 == Digest.hash(.sha256, slice), "part \(part.index)")
            #expect(part.crc32 == CRC32(slice).bytes, "part \(part.index)")
        }
    }

    @Test("a file copy: the plan is known inside the transaction, and parts are handed in while the copy goes on")
    func fileCopy() throws {
        let sandbox = try Sandbox()
        try bigDatabase(sandbox)
        let staging = "\(sandbox.root)/staging.db"
        let received = Received()
        var plan: Snapshot.Plan?
        var partsAtHalf = -1
        let partSize: Int64 = 5 << 20
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 1000, md5: true,
            pagesPerStep: 256,
            progress: { copied, total in
                // Half way, the copy waits (10 s at most) for a part to be handed in: parts are
                // hashed while the rest of the file is still being copied.
                guard partsAtHalf < 0, copied * 2 >= total, copied < total else { return }
                for _ in 0..<1000 where received.count == 0 { usleep(10_000) }
                partsAtHalf = received.count
            },
            beforeCopy: { planned in
                plan = planned
                let empty = (try? FileSystem.size(staging)) == 0
                #expect(empty, "nothing is copied yet")
                return Snapshot.PartDigests(partSize: partSize) { part in received.parts.withLock { $0.append(part) } }
            })
        #expect(result.method == .fileCopy)
        #expect(plan == Snapshot.Plan(version: "7", size: result.size, method: .fileCopy))
        #expect(partsAtHalf > 0, "no part was handed in while the copy was half done")
        #expect(result.digests.md5 == nil, "with parts, the whole file's MD5 is not computed")
        #expect(result.sha256 == (try FileSystem.sha256(of: staging).sha256))
        try expectParts(received.parts.withLock { $0 }, partSize: partSize, of: staging)
    }

    @Test("an online backup (pages in the WAL): no part before SQLite has finished the copy, then all of them")
    func onlineBackup() throws {
        let sandbox = try Sandbox()
        try bigDatabase(sandbox)
        let application = try SQLiteConnection(path: sandbox.database, mode: .readWrite)
        try application.execute(
            "PRAGMA wal_autocheckpoint = 0; UPDATE items SET payload = payload || 'x' WHERE id % 50 = 0")
        let staging = "\(sandbox.root)/staging.db"
        let received = Received()
        var early = 0
        var plan: Snapshot.Plan?
        let partSize: Int64 = 5 << 20
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: "SELECT count(*) FROM items",
            busyTimeoutMilliseconds: 1000,
            pagesPerStep: 256,
            progress: { _, _ in early = max(early, received.count) },
            beforeCopy: { planned in
                plan = planned
                return Snapshot.PartDigests(partSize: partSize) { part in received.parts.withLock { $0.append(part) } }
            })
        #expect(result.method == .onlineBackup)
        #expect(early == 0, "a part was handed in before SQLite finished the copy (it rewrites page 1 at the end)")
        #expect(plan == Snapshot.Plan(version: "24010", size: result.size, method: .onlineBackup))
        #expect(result.version == "24010")
        try expectParts(received.parts.withLock { $0 }, partSize: partSize, of: staging)
    }

    @Test("without parts asked for, the snapshot is as before: whole-file SHA-256 and MD5")
    func noParts() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 2000)
        let staging = "\(sandbox.root)/staging.db"
        var planned = false
        let result = try Snapshot.take(
            database: sandbox.database, to: staging, versionQuery: nil, busyTimeoutMilliseconds: 1000, md5: true,
            beforeCopy: { _ in
                planned = true
                return nil
            })
        #expect(planned)
        #expect(result.digests.md5 == (try FileSystem.digest(.md5, of: staging).digest))
        #expect(result.sha256 == (try FileSystem.sha256(of: staging).sha256))
    }

    @Test(
        """
        a version query that gives the live database and its copy of the same moment different versions fails the \
        snapshot
        """
    )
    func versionMustMatch() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 100)
        // Depends on the file, not the data: the live database and the copy have different names.
        let query =
            """
            SELECT CASE WHEN file LIKE '%staging%' THEN 'copy' ELSE 'live' END FROM pragma_database_list WHERE \
            name = 'main'
            """
        let error = #expect(throws: SnapshotError.self) {
            try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/staging.db", versionQuery: query,
                busyTimeoutMilliseconds: 1000,
                beforeCopy: { _ in nil })
        }
        #expect(error?.code == .versionQuery)
        #expect(
            error?.message.contains("(live) differs from the one read from its copy (copy)") == true,
            "\(String(describing: error))")
    }

    @Test("an error from beforeCopy ends the snapshot before anything is copied, and comes back as its cause")
    func declined() throws {
        struct Refused: Error {}
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 100)
        var copied = false
        let error = #expect(throws: SnapshotError.self) {
            try Snapshot.take(
                database: sandbox.database, to: "\(sandbox.root)/staging.db", versionQuery: nil,
                busyTimeoutMilliseconds: 1000,
                progress: { _, _ in copied = true }, beforeCopy: { _ in throw Refused() })
        }
        #expect(error?.code == .declined)
        #expect(error?.cause is Refused)
        #expect(!copied)
    }
}

import Foundation
import Hashing
import S3Client
import SystemCalls
import Testing

@testable import BackupCore

/// One suite, every storage type: what `BackupStore` promises (see its documentation) holds
/// for a directory, for S3 on moto and for S3 on Ceph radosgw. A new storage type joins
/// `Subject` and must pass the same checks.
@Suite("Every store keeps the BackupStore contract", .serialized)
struct StoreConformanceTests {
    enum Subject: String, CaseIterable, CustomTestStringConvertible {
        case directory, moto, radosgw
        var testDescription: String { rawValue }
    }

    /// A store of the subject, a way to read back what it holds (with a reader's rights, which
    /// the store itself may lack), and a clean-up.
    struct Fixture {
        let store: any BackupStore
        let read: (BackupLocation) -> [UInt8]?
        let root: URL
    }

    static func fixture(_ subject: Subject) throws -> Fixture? {
        let root = try TestSupport.makeTemporaryDirectory()
        switch subject {
        case .directory:
            let directory = root.appendingPathComponent("backups").path
            return Fixture(
                store: DirectoryStore(registration: "conformance", directory: directory),
                read: { location in
                    guard case .file(let path) = location else { return nil }
                    return FileManager.default.contents(atPath: path).map { [UInt8]($0) }
                }, root: root)
        case .moto, .radosgw:
            if subject == .radosgw && !TestServers.radosgwExpected { return nil }
            let server = try (subject == .moto ? TestServers.moto : TestServers.radosgw).get()
            let target = S3Target(
                bucket: server.bucket, endpoint: server.endpoint, region: server.region, forcePathStyle: true,
                prefix: "conformance/\(UUID().uuidString.prefix(8))",
                accessKey: server.values["S3_AGENT_ACCESS_KEY"] ?? "")
            var transfer = S3Transfer()
            transfer.maxAttempts = 2
            let store = try S3Store(
                registration: "conformance", target: target, secret: server.values["S3_AGENT_SECRET_KEY"] ?? "",
                transfer: transfer, stagingDirectory: root.appendingPathComponent("staging").path)
            let admin = try server.client(.admin)
            return Fixture(
                store: store,
                read: { location in
                    guard case .object(let object) = location else { return nil }
                    let copy = root.appendingPathComponent("read-\(UUID().uuidString)").path
                    guard (try? admin.getObject(key: object.key, toFile: copy)) != nil else { return nil }
                    return FileManager.default.contents(atPath: copy).map { [UInt8]($0) }
                }, root: root)
        }
    }

    /// A staged file as a run leaves it: bytes, and their digests.
    static func stage(
        _ store: any BackupStore, size: Int
    ) throws -> (path: String, bytes: [UInt8], digests: FileDigests) {
        try store.prepare()
        let path = store.stagingPath(registration: "conformance", startedAt: .now())
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let digests = FileDigests(sha256: Digest.hash(.sha256, bytes), md5: Digest.hash(.md5, bytes), size: Int64(size))
        return (path, bytes, digests)
    }

    static func attributes(_ digests: FileDigests) -> BackupAttributes {
        BackupAttributes(
            registration: "conformance", trigger: .manual, version: "42", createdAt: .now(),
            sha256: digests.sha256.hexString)
    }

    @Test(
        "place stores exactly the staged bytes under the final name, and no staging name is a final name",
        arguments: Subject.allCases)
    func placeStoresTheBytes(_ subject: Subject) throws {
        guard let fixture = try Self.fixture(subject) else { return }
        defer { try? FileManager.default.removeItem(at: fixture.root) }
        let store = fixture.store
        let staged = try Self.stage(store, size: 300_000)
        #expect(
            BackupNaming.parse(FileSystem.name(of: staged.path)) == nil, "a staging file never carries a backup's name")
        let location = store.location(forFileName: "db_v42_20260101T000000Z.db")
        #expect(location.fileName == "db_v42_20260101T000000Z.db")
        let placed = try store.place(
            staging: staged.path, digests: staged.digests, at: location, attributes: Self.attributes(staged.digests)
        ) { _, _ in }
        #expect(placed)
        #expect(fixture.read(location) == staged.bytes)
    }

    @Test(
        "delete removes the backup, and deleting one that is gone succeeds (a retried delete)",
        arguments: Subject.allCases)
    func deleteIsIdempotent(_ subject: Subject) throws {
        guard let fixture = try Self.fixture(subject) else { return }
        defer { try? FileManager.default.removeItem(at: fixture.root) }
        let store = fixture.store
        let staged = try Self.stage(store, size: 10_000)
        let location = store.location(forFileName: "db_v42_20260101T000001Z.db")
        _ = try store.place(
            staging: staged.path, digests: staged.digests, at: location, attributes: Self.attributes(staged.digests)
        ) { _, _ in }
        try store.delete(location)
        #expect(fixture.read(location) == nil)
        try store.delete(location)
        try store.delete(store.location(forFileName: "db_v42_20200101T000000Z.db"))
    }

    @Test(
        "a name that is taken is never replaced: place says so and leaves the staging file",
        arguments: [Subject.directory])
    func takenNameIsNotReplaced(_ subject: Subject) throws {
        guard let fixture = try Self.fixture(subject) else { return }
        defer { try? FileManager.default.removeItem(at: fixture.root) }
        let store = fixture.store
        let first = try Self.stage(store, size: 1000)
        let location = store.location(forFileName: "db_v42_20260101T000002Z.db")
        #expect(
            try store.place(
                staging: first.path, digests: first.digests, at: location, attributes: Self.attributes(first.digests)
            ) { _, _ in })
        let second = try Self.stage(store, size: 2000)
        #expect(
            try !store.place(
                staging: second.path, digests: second.digests, at: location, attributes: Self.attributes(second.digests)
            ) { _, _ in })
        #expect(fixture.read(location) == first.bytes)
        #expect(FileSystem.exists(second.path), "the staging file is left for the next name")
    }

    @Test("a backup is deleted where it was stored, even after the store was reconfigured", arguments: Subject.allCases)
    func deleteWhereStored(_ subject: Subject) throws {
        guard let fixture = try Self.fixture(subject), let moved = try Self.fixture(subject) else { return }
        defer {
            try? FileManager.default.removeItem(at: fixture.root)
            try? FileManager.default.removeItem(at: moved.root)
        }
        let staged = try Self.stage(fixture.store, size: 5000)
        let location = fixture.store.location(forFileName: "db_v42_20260101T000003Z.db")
        _ = try fixture.store.place(
            staging: staged.path, digests: staged.digests, at: location, attributes: Self.attributes(staged.digests)
        ) { _, _ in }
        // The registration now points elsewhere (another directory, another prefix).
        try moved.store.delete(location)
        #expect(fixture.read(location) == nil)
    }
}

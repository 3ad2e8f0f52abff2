import BackupCore
import Foundation
import SystemCalls
import Testing

@Suite("Backup runs, retention and restore")
struct RunTests {
    @Test("a run stores a verified file under its final name and records it")
    func storesAndRecords() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain()
        let registration = try sandbox.filesystemRegistration("pre")
        let report = try sandbox.runner(config).run(registration, trigger: .migration)
        guard case .file(let path)? = report.backup.location else {
            Issue.record("no file")
            return
        }
        let name = (path as NSString).lastPathComponent
        #expect(name.hasPrefix("db_v42_"))
        #expect(name.range(of: #"^db_v42_\d{8}T\d{6}Z\.db$"#, options: .regularExpression) != nil)
        #expect(try FileSystem.sha256(of: path).sha256 == report.backup.sha256)
        #expect(report.backup.size == (try FileSystem.size(path)))
        #expect(report.backup.trigger == .migration)
        #expect(report.backup.state == .stored)
        #expect(try sandbox.registry().storedBackups().map(\.id) == [report.backup.id])
        // Nothing but final backups in the directory: no staging file left behind.
        #expect(sandbox.files(in: (path as NSString).deletingLastPathComponent) == [name])
    }

    @Test("two runs in the same second never overwrite each other")
    func sameSecond() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain(local: 15)
        let registration = try sandbox.filesystemRegistration("pre")
        let reports = try (0..<4).map { _ in try sandbox.runner(config).run(registration, trigger: .manual) }
        let paths = reports.compactMap(\.backup.location?.description)
        #expect(Set(paths).count == 4)
        #expect(sandbox.files(in: "\(sandbox.root)/backups/pre").count == 4)
    }

    @Test("retention keeps exactly the N newest of a registration and never touches another's")
    func retention() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain(local: 3)
        let shared = "\(sandbox.root)/shared"
        let pre = try sandbox.filesystemRegistration("pre", directory: shared)
        let nightly = try sandbox.filesystemRegistration(
            "nightly", directory: shared, schedule: Schedule(kind: .daily, times: [TimeOfDay(hour: 2, minute: 0)!]))
        let runner = sandbox.runner(config)
        var preRuns: [RunReport] = []
        for _ in 0..<2 { preRuns.append(try runner.run(pre, trigger: .migration)) }
        var nightlyRuns: [RunReport] = []
        for _ in 0..<6 { nightlyRuns.append(try runner.run(nightly, trigger: .timer)) }

        let registry = try sandbox.registry()
        #expect(try registry.storedBackups(registration: "nightly").map(\.id) == nightlyRuns.suffix(3).map(\.backup.id))
        #expect(try registry.storedBackups(registration: "pre").map(\.id) == preRuns.map(\.backup.id))
        let expected = (preRuns + nightlyRuns.suffix(3)).compactMap {
            ($0.backup.location?.description as NSString?)?.lastPathComponent
        }
        #expect(sandbox.files(in: shared) == expected.sorted())
        #expect(nightlyRuns.last?.pruned.count == 1)
        #expect(try registry.backups(in: .pruned).count == 3)
    }

    @Test("retention 0 keeps everything")
    func retentionZero() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain(local: 0)
        let registration = try sandbox.filesystemRegistration("keep")
        for _ in 0..<5 { _ = try sandbox.runner(config).run(registration, trigger: .manual) }
        #expect(try sandbox.registry().storedBackups().count == 5)
        #expect(sandbox.files(in: "\(sandbox.root)/backups/keep").count == 5)
    }

    @Test("a failed run deletes nothing and records no backup")
    func failedRunPrunesNothing() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain(local: 1)
        let registration = try sandbox.filesystemRegistration("pre")
        _ = try sandbox.runner(config).run(registration, trigger: .manual)
        let before = sandbox.files(in: "\(sandbox.root)/backups/pre")
        // The database disappears: the next run fails and must not prune the only good backup.
        try FileManager.default.removeItem(atPath: sandbox.database)
        #expect(throws: RunFailure.self) { try sandbox.runner(config).run(registration, trigger: .manual) }
        do {
            _ = try sandbox.runner(config).run(registration, trigger: .manual)
        } catch {
            #expect(error.kind == .snapshot)
            #expect(error.kind.exitCode == ExitStatus.snapshot.code)
            #expect(error.description.contains("does not exist"))
        }
        #expect(sandbox.files(in: "\(sandbox.root)/backups/pre") == before)
        #expect(try sandbox.registry().storedBackups().count == 1)
        #expect(try sandbox.registry().lastRun(of: "pre", state: .failed) != nil)
    }

    @Test("not a database, an unusable directory: clear error, no partial file, nothing recorded")
    func failures() throws {
        let sandbox = try Sandbox()
        try sandbox.write(String(repeating: "garbage", count: 2000), to: "app.db")
        let config = try sandbox.writeMain()
        let registration = try sandbox.filesystemRegistration("pre")
        do {
            _ = try sandbox.runner(config).run(registration, trigger: .manual)
            Issue.record("no error")
        } catch {
            #expect(error.kind == .snapshot)
            #expect(error.message.contains("not an SQLite database"))
        }
        #expect(sandbox.files(in: "\(sandbox.root)/backups/pre").isEmpty)

        try FileManager.default.removeItem(atPath: sandbox.database)
        try sandbox.makeDatabase()
        try sandbox.write("a file where a directory should be", to: "blocker")
        let blocked = try sandbox.filesystemRegistration("blocked", directory: "\(sandbox.root)/blocker/backups")
        do {
            _ = try sandbox.runner(config).run(blocked, trigger: .manual)
            Issue.record("no error")
        } catch {
            #expect(error.kind == .store)
            #expect(error.kind.exitCode == ExitStatus.store.code)
            #expect(error.message.contains("\(sandbox.root)/blocker/backups"))
        }
        #expect(try sandbox.registry().storedBackups().isEmpty)
    }

    @Test("a crash between recording and placing is settled by the next run")
    func settlesPending() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain()
        let registration = try sandbox.filesystemRegistration("pre")
        let first = try sandbox.runner(config).run(registration, trigger: .manual)
        guard case .file(let path)? = first.backup.location else { return }
        let registry = try sandbox.registry()
        // As if a run died after recording but before its file was complete under the final name,
        // and another after placing but before marking it stored.
        let copy = "\(sandbox.root)/backups/pre/db_v42_20200101T000000Z.db"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let placed = try registry.claim(
            .init(
                registration: "pre", provider: "filesystem", location: .file(path: copy), version: "42",
                size: first.backup.size!, sha256: first.backup.sha256!,
                startedAt: Timestamp(millisecondsSinceEpoch: 1_577_836_800_000), trigger: .manual),
            location: { _ in .file(path: copy) }
        ).id
        let never = "\(sandbox.root)/backups/pre/never.db"
        let lost = try registry.claim(
            .init(
                registration: "pre", provider: "filesystem", location: .file(path: never), version: "42",
                size: 1, sha256: "00", startedAt: .now(), trigger: .manual), location: { _ in .file(path: never) }
        ).id
        try sandbox.write("partial", to: "backups/pre/.dbbackup-staging-pre-999999-1.db")
        _ = try sandbox.runner(config).run(registration, trigger: .manual)
        #expect(try registry.backup(id: placed)?.state == .stored)
        #expect(try registry.backup(id: lost)?.state == .failed)
        #expect(!sandbox.files(in: "\(sandbox.root)/backups/pre").contains { $0.hasPrefix(".dbbackup-staging") })
        for record in try registry.storedBackups() {
            guard case .file(let stored)? = record.location else { continue }
            #expect(try FileSystem.sha256(of: stored).sha256 == record.sha256)
        }
    }

    @Test("a run waits for another run of the same database, then fails clearly")
    func lockTimeout() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase()
        let config = try sandbox.writeMain(lockTimeout: 1)
        let registration = try sandbox.filesystemRegistration("pre")
        var held: RunLock? = try RunLock.database(
            config.database.resolvedPath, locksDirectory: sandbox.locations.locksDirectory,
            holder: "test", timeoutSeconds: 1)
        let started = Date()
        do {
            _ = try sandbox.runner(config).run(registration, trigger: .manual)
            Issue.record("no error")
        } catch {
            #expect(error.kind == .busy)
            #expect(error.message.contains("test"))
        }
        #expect(Date().timeIntervalSince(started) >= 0.9)
        #expect(try sandbox.registry().storedBackups().isEmpty)
        #expect(held != nil)
        held = nil  // released: the next run goes through
        _ = try sandbox.runner(config).run(registration, trigger: .manual)
    }

    @Test("restore is byte-identical; a damaged backup is refused")
    func restore() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 500)
        let config = try sandbox.writeMain()
        let registration = try sandbox.filesystemRegistration("pre")
        let report = try sandbox.runner(config).run(registration, trigger: .manual)
        guard case .file(let path)? = report.backup.location else { return }
        let restorer = Restorer(locations: sandbox.locations)
        let target = "\(sandbox.root)/restored/app.db"
        try FileManager.default.createDirectory(atPath: "\(sandbox.root)/restored", withIntermediateDirectories: true)
        try restorer.restore(try restorer.find(.latest, registration: nil), to: target, force: false)
        #expect(FileManager.default.contents(atPath: target) == FileManager.default.contents(atPath: path))

        // Refuses to overwrite without force.
        #expect(throws: RestoreError.self) { try restorer.restore(report.backup, to: target, force: false) }
        try restorer.restore(report.backup, to: target, force: true)

        // One flipped byte: the checksum no longer matches, and the target is left alone.
        let original = FileManager.default.contents(atPath: target)
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes[bytes.count / 2] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            try restorer.restore(report.backup, to: target, force: true)
            Issue.record("damaged backup restored")
        } catch let error as RestoreError {
            #expect(error.code == .checksum)
            #expect(error.message.contains("SHA-256"))
        }
        #expect(FileManager.default.contents(atPath: target) == original)
        #expect(sandbox.files(in: "\(sandbox.root)/restored") == ["app.db"])
    }

    @Test("a backup whose checksum matches but whose content is not a healthy database is refused")
    func restoreIntegrity() throws {
        let sandbox = try Sandbox()
        try sandbox.makeDatabase(rows: 3000)
        let config = try sandbox.writeMain()
        let registration = try sandbox.filesystemRegistration("pre")
        let report = try sandbox.runner(config).run(registration, trigger: .manual)
        guard case .file(let path)? = report.backup.location else { return }
        // Damage a b-tree page, then record the damaged file's checksum as if it had been stored so.
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        for offset in stride(from: 4096 * 3, to: 4096 * 3 + 200, by: 1) { bytes[offset] = 0x5a }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let db = try SQLiteConnection(path: sandbox.locations.registryPath, mode: .readWrite)
        try db.prepare("UPDATE backups SET sha256 = ? WHERE id = ?").run([
            .text(try FileSystem.sha256(of: path).sha256), .integer(report.backup.id),
        ])
        let restorer = Restorer(locations: sandbox.locations)
        do {
            try restorer.restore(
                try restorer.find(.id(report.backup.id), registration: nil), to: "\(sandbox.root)/out.db", force: false)
            Issue.record("damaged database restored")
        } catch let error as RestoreError {
            #expect(error.code == .integrity)
        }
        #expect(!FileSystem.exists("\(sandbox.root)/out.db"))
    }
}

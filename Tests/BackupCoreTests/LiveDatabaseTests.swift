import BackupCore
import Foundation
import Testing

/// The guard before a snapshot opens the live database: never create -wal/-shm files the
/// application could not use. The identity is given (these tests run as root); the CLI tests
/// run the real binary as other users.
@Suite("The live database's side files", .serialized)
struct LiveDatabaseTests {
    /// A WAL database nobody has open: no -wal, no -shm beside it.
    func idleWALDatabase(
        _ sandbox: Sandbox, owner: uid_t = 4321, group: gid_t = 4322, mode: mode_t = 0o640
    ) throws -> String {
        try sandbox.makeDatabase(wal: true)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sandbox.database + suffix) }
        #expect(chown(sandbox.database, owner, group) == 0)
        #expect(chmod(sandbox.database, mode) == 0)
        return sandbox.database
    }

    func sideFiles(_ database: String) -> [String] {
        ["-wal", "-shm"].filter { FileManager.default.fileExists(atPath: database + $0) }
    }

    @Test("another user than the owner is refused before SQLite opens anything, naming the owner and the fix")
    func anotherUser() throws {
        let sandbox = try Sandbox()
        let database = try idleWALDatabase(sandbox)
        do {
            _ = try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 998, gid: 998))
            Issue.record("a user other than the owner was let through")
        } catch {
            #expect(error.kind == .permission)
            #expect(error.message.contains("creates app.db-wal and app.db-shm"), "\(error.message)")
            #expect(error.message.contains("not to the database's owner uid 4321"), "\(error.message)")
            #expect(error.message.contains("dbbackup apply"), "\(error.message)")
        }
        // Root without CAP_CHOWN (the sandbox's root) cannot give them away either.
        #expect(throws: LiveDatabase.Refusal.self) {
            try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 0, gid: 0, canChown: false))
        }
        #expect(sideFiles(database).isEmpty, "nothing was created")
    }

    @Test("the owner with the database's group, and root with CAP_CHOWN, may create them")
    func ownerAndRoot() throws {
        let sandbox = try Sandbox()
        let database = try idleWALDatabase(sandbox)
        let owner = try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 4321, gid: 4322))
        #expect(
            owner.wal && owner.created == ["-wal", "-shm"] && owner.owner == 4321 && owner.group == 4322
                && owner.mode == 0o640)
        #expect(
            try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 0, gid: 0, canChown: true)).created == [
                "-wal", "-shm",
            ])
    }

    @Test(
        """
        the owner with another group is refused where the mode gives the group access, and let through where it \
        does not
        """
    )
    func group() throws {
        let sandbox = try Sandbox()
        let database = try idleWALDatabase(sandbox, mode: 0o660)
        do {
            _ = try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 4321, gid: 9999))
            Issue.record("a wrong group was let through for a 0660 database")
        } catch {
            #expect(
                error.message.contains("would get group gid 9999 instead of the database's gid 4322"),
                "\(error.message)")
        }
        // A setgid directory of the database's group gives the files that group whatever ours is.
        #expect(chown(sandbox.root, 0, 4322) == 0 && chmod(sandbox.root, 0o2775) == 0)
        #expect(try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 4321, gid: 9999)).created.count == 2)
        #expect(chmod(sandbox.root, 0o755) == 0)
        // 0644 and 0600: the group gets nothing others do not, so it does not matter.
        for mode: mode_t in [0o644, 0o600] {
            #expect(chmod(database, mode) == 0)
            #expect(
                try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 4321, gid: 9999)).created.count == 2,
                "mode \(String(mode, radix: 8))")
        }
    }

    @Test("nothing to create: side files already there, or a rollback-journal database; anyone may open it")
    func nothingCreated() throws {
        let sandbox = try Sandbox()
        let database = try idleWALDatabase(sandbox)
        for suffix in ["-wal", "-shm"] {
            #expect(FileManager.default.createFile(atPath: database + suffix, contents: nil))
        }
        #expect(try LiveDatabase.inspect(database, as: ProcessIdentity(uid: 998, gid: 998)).created.isEmpty)

        let rollback = try Sandbox()
        try rollback.makeDatabase(wal: false)
        let inspection = try LiveDatabase.inspect(rollback.database, as: ProcessIdentity(uid: 998, gid: 998))
        #expect(!inspection.wal && inspection.created.isEmpty)
    }

    @Test("a missing database says it does not exist; a snapshot by the wrong user fails with the permission code")
    func missingAndSnapshot() throws {
        let sandbox = try Sandbox()
        do {
            _ = try LiveDatabase.inspect("\(sandbox.root)/nope.db")
            Issue.record("a missing database passed")
        } catch {
            #expect(error.kind == .missing && error.message.contains("does not exist"))
        }
        // Snapshot.take runs the guard as this process (root with CAP_CHOWN here): it works, and
        // SQLite hands the side files to the database's owner with the database's mode.
        let database = try idleWALDatabase(sandbox)
        _ = try Snapshot.take(
            database: database, to: "\(sandbox.root)/copy.db", versionQuery: nil, busyTimeoutMilliseconds: 1000)
        for suffix in sideFiles(database) {
            let attributes = try FileManager.default.attributesOfItem(atPath: database + suffix)
            #expect(
                attributes[.ownerAccountID] as? Int == 4321 && attributes[.groupOwnerAccountID] as? Int == 4322,
                "\(suffix)")
            #expect(attributes[.posixPermissions] as? Int == 0o640, "\(suffix)")
        }
    }
}

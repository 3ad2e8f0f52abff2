import BackupCore
import Foundation
import SystemCalls
import Testing

@Suite("Migration requests")
struct MigrationRequestTests {
    @Test("each request gets the result of the run that claimed it; a request filed during a run is left for the next")
    func requestsAndResults() throws {
        let sandbox = try Sandbox()
        let requests = MigrationRequests(directory: "\(sandbox.root)/run")
        try FileManager.default.createDirectory(atPath: requests.directory, withIntermediateDirectories: true)
        let first = try requests.submit().id
        let second = try requests.submit().id
        #expect(first != second)
        #expect(FileSystem.exists(requests.marker))

        let claimed = requests.claim()
        #expect(Set(claimed) == [first, second])
        #expect(!FileSystem.exists(requests.marker), "the run removes the marker before claiming")
        let late = try requests.submit().id  // arrives during the run
        #expect(FileSystem.exists(requests.marker), "so the path unit starts another run")

        let result = MigrationResult(backups: [
            .init(registration: "pre", ok: true, location: "/b/db_v1.db", size: 10, sha256: "ab", version: "1")
        ])
        requests.writeResult(result, for: claimed)
        #expect(requests.result(for: first)?.ok == true)
        #expect(requests.result(for: first)?.requestID == first)
        #expect(requests.result(for: second)?.backups.first?.location == "/b/db_v1.db")
        #expect(requests.result(for: late) == nil)
        #expect(FileSystem.exists(requests.latestResult))

        #expect(requests.claim() == [late])
        let failed = MigrationResult(backups: [
            .init(registration: "pre", ok: true),
            .init(registration: "s3", ok: false, error: "denied", exitCode: ExitStatus.store.code),
        ])
        requests.writeResult(failed, for: [late])
        #expect(requests.result(for: late)?.ok == false)
        #expect(requests.result(for: late)?.backups.last?.exitCode == ExitStatus.store.code)
        #expect(MigrationResult(backups: []).ok == false, "no registration ran: not a success")
    }

    @Test(
        "a request withdrawn before any run claims it leaves no marker; one already claimed, or another's marker, stays"
    )
    func withdraw() throws {
        let sandbox = try Sandbox()
        let requests = MigrationRequests(directory: "\(sandbox.root)/run")
        try FileManager.default.createDirectory(atPath: requests.directory, withIntermediateDirectories: true)
        // Alone: the request and the marker it created both go, so no run starts for it.
        let alone = try requests.submit()
        #expect(requests.withdraw(alone))
        #expect(!FileSystem.exists(requests.marker))
        #expect(requests.claim().isEmpty)
        // Another request still waits: the marker stays for it.
        let mine = try requests.submit()
        let other = try requests.submit()
        #expect(requests.withdraw(mine))
        #expect(FileSystem.exists(requests.marker))
        #expect(requests.claim() == [other.id])
        // A marker touched by hand before the request is not this request's to remove.
        #expect(FileManager.default.createFile(atPath: requests.marker, contents: nil))
        let late = try requests.submit()
        #expect(requests.withdraw(late))
        #expect(FileSystem.exists(requests.marker))
        _ = requests.claim()
        // Claimed by a run already: nothing to withdraw.
        let claimed = try requests.submit()
        #expect(requests.claim() == [claimed.id])
        #expect(!requests.withdraw(claimed))
    }

    @Test(
        """
        prepare hands the directories to the migration service's identity with the modes that let group dbbackup \
        only file and read
        """
    )
    func layout() throws {
        let sandbox = try Sandbox()
        let requests = MigrationRequests(directory: "\(sandbox.root)/run")
        try requests.prepare(owner: 4321)
        func stat(_ path: String) throws -> (uid: Int, mode: Int) {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return (attributes[.ownerAccountID] as? Int ?? -1, attributes[.posixPermissions] as? Int ?? -1)
        }
        #expect(try stat(requests.directory) == (4321, 0o3775))
        #expect(try stat(requests.requestsDirectory) == (4321, 0o1730))
        #expect(try stat(requests.resultsDirectory) == (4321, 0o2710))
        // Root files a request (a deploy script as root): it goes to the directories' owner.
        let request = try requests.submit()
        #expect(try stat("\(requests.requestsDirectory)/\(request.id)") == (4321, 0o640))
        requests.writeResult(MigrationResult(backups: [.init(registration: "pre", ok: true)]), for: requests.claim())
        #expect(try stat("\(requests.resultsDirectory)/\(request.id).json").mode == 0o640)
        #expect(try stat(requests.latestResult).mode == 0o640)
    }
}

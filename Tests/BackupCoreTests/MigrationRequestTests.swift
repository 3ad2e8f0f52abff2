import BackupCore
import Foundation
import Testing

@Suite("Migration requests")
struct MigrationRequestTests {
    @Test("each request gets the result of the run that claimed it; a request filed during a run is left for the next")
    func requestsAndResults() throws {
        let sandbox = try Sandbox()
        let requests = MigrationRequests(directory: "\(sandbox.root)/run")
        try FileManager.default.createDirectory(atPath: requests.directory, withIntermediateDirectories: true)
        let first = try requests.submit()
        let second = try requests.submit()
        #expect(first != second)
        #expect(FileSystem.exists(requests.marker))

        let claimed = requests.claim()
        #expect(Set(claimed) == [first, second])
        #expect(!FileSystem.exists(requests.marker), "the run removes the marker before claiming")
        let late = try requests.submit()  // arrives during the run
        #expect(FileSystem.exists(requests.marker), "so the path unit starts another run")

        let result = MigrationResult(backups: [.init(registration: "pre", ok: true, location: "/b/db_v1.db", size: 10, sha256: "ab", version: "1")])
        requests.writeResult(result, for: claimed)
        #expect(requests.result(for: first)?.ok == true)
        #expect(requests.result(for: first)?.requestID == first)
        #expect(requests.result(for: second)?.backups.first?.location == "/b/db_v1.db")
        #expect(requests.result(for: late) == nil)
        #expect(FileSystem.exists(requests.latestResult))

        #expect(requests.claim() == [late])
        let failed = MigrationResult(backups: [.init(registration: "pre", ok: true), .init(registration: "s3", ok: false, error: "denied", exitCode: 4)])
        requests.writeResult(failed, for: [late])
        #expect(requests.result(for: late)?.ok == false)
        #expect(requests.result(for: late)?.backups.last?.exitCode == 4)
        #expect(MigrationResult(backups: []).ok == false, "no registration ran: not a success")
    }
}

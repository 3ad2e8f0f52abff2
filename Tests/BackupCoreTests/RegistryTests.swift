import BackupCore
import Foundation
import Testing
import Threads

@Suite("The registry")
struct RegistryTests {
    /// Runs started together (a deploy's pre-migrate and a timer, or several timers) all open
    /// a registry that may not exist yet. SQLite does not wait for the lock that switches a
    /// new database to WAL (it answers "database is locked" at once, where waiting could
    /// deadlock); each of them must open the registry all the same.
    @Test("many connections opening a new registry at the same moment all succeed")
    func concurrentFirstOpen() throws {
        let sandbox = try Sandbox()
        for round in 0..<20 {
            let path = "\(sandbox.root)/registry-\(round).db"
            let openers = (0..<6).map { _ in
                JoinableThread { () throws -> Int in try BackupRegistry(path: path).storedBackups().count }
            }
            for opener in openers {
                #expect(throws: Never.self, "round \(round)") { try opener.value() }
            }
        }
    }
}

import Foundation
import TestKit

/// Runs a program and returns its exit status and stdout (stderr is discarded).
func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String) {
    let result = try Spawn.run(path, arguments)
    return (result.status, result.stdout)
}

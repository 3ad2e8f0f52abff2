import Foundation
import Testing

/// Paths and helpers shared by the S3 client tests.
enum TestSupport {
    /// The package root (…/Tests/S3ClientTests/Support.swift → …).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func script(_ name: String) -> String {
        packageRoot.appendingPathComponent("scripts/s3/\(name)").path
    }

    struct ProcessFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `executable arguments…` (looked up in PATH), feeding `input` on stdin; returns
    /// stdout, throws on a non-zero exit. stdin/stdout/stderr are temp files, not pipes, so
    /// daemons a script leaves running cannot hold the call open; the child is reaped with
    /// waitpid (posix_spawn rather than Foundation's Process, whose exit monitoring was seen to
    /// hang in this test process when several tests block on it at once).
    static func run(_ executable: String, _ arguments: [String], input: Data = Data()) throws -> Data {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let inPath = directory.appendingPathComponent("stdin").path
        let outPath = directory.appendingPathComponent("stdout").path
        let errPath = directory.appendingPathComponent("stderr").path
        try input.write(to: URL(fileURLWithPath: inPath))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)  // do not pass the runner's blocked signals on
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw ProcessFailure(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let errors = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            throw ProcessFailure(description: "\(executable) \(arguments.joined(separator: " ")) failed "
                + "(status \(status)): \(errors.suffix(2000))")
        }
        return output
    }

    /// A temporary directory removed by the caller.
    static func makeTemporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("s3client-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A file of `size` pseudo-random bytes (seeded, so failures reproduce).
    static func makeFile(at url: URL, size: Int, seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var remaining = size
        while remaining > 0 {
            let count = min(remaining, 1 << 20)
            var chunk = [UInt8](repeating: 0, count: count)
            for index in stride(from: 0, to: count, by: 8) {
                var word = generator.next()
                for offset in index..<min(index + 8, count) {
                    chunk[offset] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                }
            }
            try handle.write(contentsOf: chunk)
            remaining -= count
        }
    }
}

/// A tiny lock-protected box for values handed between threads in test helpers.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&value) } }
}

/// A seeded generator (SplitMix64) so generated test data can be reproduced from the seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import Foundation
import TestKit
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
    /// stdout, throws on a non-zero exit (see TestKit's Spawn for why not Foundation's Process).
    static func run(_ executable: String, _ arguments: [String], input: Data = Data()) throws -> Data {
        let result = try Spawn.run(executable, arguments, input: String(decoding: input, as: UTF8.self))
        guard result.status == 0 else {
            throw ProcessFailure(
                description: "\(executable) \(arguments.joined(separator: " ")) failed "
                    + "(status \(result.status)): \(result.stderr.suffix(2000))")
        }
        return Data(result.stdout.utf8)
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

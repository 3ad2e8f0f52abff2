import Foundation
import TestKit
import Testing

/// Test data: text-like bytes that compress as a database's pages do (words, numbers,
/// repeats), or random bytes that do not. Seeded, so a failure can be replayed.
enum TestData {
    static func text(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        let words = [
            "customer", "order", "42", "Prague", "invoice", "paid", "2026-11-26", "NULL", "\u{0}\u{0}\u{1}", "widget",
        ].map { Array($0.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(count + 16)
        while out.count < count {
            out += words[Int(generator.next() % UInt64(words.count))]
            out.append(UInt8(ascii: " "))
        }
        return Array(out.prefix(count))
    }

    static func random(_ count: Int, seed: UInt64 = 2) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var out = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var value = generator.next()
            for _ in 0..<8 where index < count {
                out[index] = UInt8(truncatingIfNeeded: value)
                value >>= 8
                index += 1
            }
        }
        return out
    }
}

/// A throw-away directory per test.
final class Scratch {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("dbbackup-encoding-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: file(name)))) }

    /// Runs a shell command line in this directory; fails the test with its output if it fails.
    @discardableResult
    func shell(_ command: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Spawn.Result {
        let result = try Spawn.run("/bin/sh", ["-c", command], workingDirectory: path)
        #expect(result.status == 0, "\(command): \(result.output)", sourceLocation: sourceLocation)
        return result
    }
}

/// Feeds `bytes` to `push` in pieces of the given sizes, cycling, so streaming state
/// machines see pieces that split their units anywhere.
func feed(_ bytes: [UInt8], in pieces: [Int], _ push: (UnsafeRawBufferPointer) throws -> Void) rethrows {
    try bytes.withUnsafeBytes { all in
        var offset = 0
        var index = 0
        while offset < all.count {
            let count = min(pieces[index % pieces.count], all.count - offset)
            try push(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + count)]))
            offset += count
            index += 1
        }
    }
}

/// Whether the `age` and `zstd` command-line tools are installed (scripts/install-deps.sh
/// installs them); the interoperability tests need them.
let haveTools: Bool = ["/usr/bin/age", "/usr/bin/age-keygen", "/usr/bin/zstd"].allSatisfy {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Byte-for-byte equality, without printing megabytes when it fails.
func same(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }

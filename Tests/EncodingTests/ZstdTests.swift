import Foundation
import Hashing
import Testing
import Zstd

@Suite struct ZstdTests {
    static func compress(_ bytes: [UInt8], level: Int = 3, workers: Int = 0, pledged: Bool = false) throws -> [UInt8] {
        let compressor = try ZstdCompressor(
            level: level, workers: workers, pledgedSize: pledged ? Int64(bytes.count) : nil)
        var out: [UInt8] = []
        try feed(bytes, in: [100_000, 7, 1 << 20]) { try compressor.compress($0) { out += $0 } }
        try compressor.finish { out += $0 }
        return out
    }

    static func decompress(_ bytes: [UInt8], pieces: [Int] = [3, 65_536, 1 << 20]) throws -> [UInt8] {
        let decompressor = try ZstdDecompressor()
        var out: [UInt8] = []
        try feed(bytes, in: pieces) { try decompressor.decompress($0) { out += $0 } }
        try decompressor.finish()
        return out
    }

    @Test(
        "round trips at sizes from 0 bytes to past a multi-threaded job, on the caller's thread and on workers",
        arguments: [0, 1, 4095, 65_536, 131_073, 3 << 20, 9 << 20 + 5], [0, 2])
    func roundTrip(size: Int, workers: Int) throws {
        let plain = TestData.text(size, seed: UInt64(size))
        let compressed = try Self.compress(plain, workers: workers, pledged: size % 2 == 1)
        if size > 4096 { #expect(compressed.count < plain.count / 2, "text should compress") }
        #expect(same(try Self.decompress(compressed), plain))
    }

    @Test("workers are used when asked for: libzstd here was built with threads")
    func workersUsed() throws {
        #expect(try ZstdCompressor(workers: 2).workers == 2)
        #expect(try ZstdCompressor(workers: 0).workers == 0)
    }

    @Test("a level outside 1-19 is refused")
    func levels() {
        #expect(throws: ZstdError.self) { try ZstdCompressor(level: 0) }
        #expect(throws: ZstdError.self) { try ZstdCompressor(level: 20) }
    }

    @Test("a changed byte fails the frame checksum or the frame's structure, and says the data is damaged")
    func damaged() throws {
        let plain = TestData.text(1 << 20)
        let compressed = try Self.compress(plain)
        for position in stride(from: 20, to: compressed.count - 8, by: compressed.count / 13) {
            var changed = compressed
            changed[position] ^= 0x20
            do {
                _ = try Self.decompress(changed)
                Issue.record("a changed byte at \(position) went unnoticed")
            } catch let error as ZstdError {
                #expect([.checksumMismatch, .corrupt].contains(error.kind), "\(error)")
                #expect(error.description.contains("damaged"), "\(error)")
            }
        }
        // Literals copied as they are change the output, not the structure: the checksum catches them.
        var literal = try Self.compress(TestData.random(100_000))
        literal[literal.count / 2] ^= 1
        #expect { try Self.decompress(literal) } throws: { ($0 as? ZstdError)?.kind == .checksumMismatch }
        // The checksum itself changed.
        var checksum = compressed
        checksum[checksum.count - 1] ^= 1
        #expect { try Self.decompress(checksum) } throws: { ($0 as? ZstdError)?.kind == .checksumMismatch }
    }

    @Test("data cut short is truncated, at any length; an empty input has no frame")
    func truncated() throws {
        let compressed = try Self.compress(TestData.text(300_000))
        for length in [1, 4, 9, compressed.count / 2, compressed.count - 4, compressed.count - 1] {
            #expect(
                performing: { try Self.decompress(Array(compressed.prefix(length))) },
                throws: { error in
                    guard let error = error as? ZstdError else { return false }
                    return error.kind == .truncated && error.description.contains("cut short")
                })
        }
        #expect { try Self.decompress([]) } throws: { ($0 as? ZstdError)?.kind == .truncated }
    }

    @Test("not zstd at all, or something appended after the frame, is said as such")
    func notZstd() throws {
        #expect { try Self.decompress(Array("SQLite format 3\0 and more".utf8)) } throws: {
            ($0 as? ZstdError)?.kind == .notZstd
        }
        let compressed = try Self.compress(TestData.text(1000))
        #expect { try Self.decompress(compressed + Array("appended".utf8)) } throws: { error in
            (error as? ZstdError).map {
                $0.kind == .corrupt && $0.description.contains("after its last complete zstd frame")
            } ?? false
        }
    }

    @Test("concatenated frames decode as one stream, as zstd -d does")
    func concatenated() throws {
        let a = TestData.text(70_000, seed: 3)
        let b = TestData.text(5, seed: 4)
        #expect(try Self.decompress(try Self.compress(a) + Self.compress(b)) == a + b)
    }

    @Test("a promised size that the input does not keep is reported")
    func pledgedSize() throws {
        let compressor = try ZstdCompressor(pledgedSize: 10)
        #expect {
            try [UInt8](repeating: 1, count: 11).withUnsafeBytes { try compressor.compress($0) { _ in } }
            try compressor.finish { _ in }
        } throws: { ($0 as? ZstdError)?.kind == .sizeMismatch }
    }

    @Test(
        "what we compress, zstd -d restores byte for byte; what zstd -T0 -3 writes, we restore", .enabled(if: haveTools)
    )
    func interoperability() throws {
        let scratch = try Scratch()
        let plain = TestData.text(5 << 20 + 3)
        try scratch.write("ours.zst", try Self.compress(plain, workers: 2))
        try scratch.shell("zstd -q -d -o ours ours.zst")
        #expect(same(try scratch.read("ours"), plain))
        try scratch.write("plain", plain)
        try scratch.shell("zstd -q -T0 -3 -o theirs.zst plain && zstd -q -T0 -19 --no-check -o nocheck.zst plain")
        #expect(same(try Self.decompress(try scratch.read("theirs.zst")), plain))
        #expect(same(try Self.decompress(try scratch.read("nocheck.zst")), plain))
    }
}

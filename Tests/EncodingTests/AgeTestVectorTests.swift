import Age
import Foundation
import Hashing
import TestKit
import Testing

/// The C2SP age test vectors (CCTV, https://age-encryption.org/testkit). No Debian or PyPI
/// package ships them (Debian's golang-filippo-age-dev ships the Go harness with the vectors
/// left out), and the tests cannot download them, so this runs only when AGE_TESTKIT_DIR names
/// a directory of them (the `age/testdata` folder of github.com/C2SP/CCTV). Vectors for what
/// dbbackup does not take (passphrases, ASCII armor, post-quantum keys) are counted as skipped.
@Suite struct AgeTestVectorTests {
    static let directory = ProcessInfo.processInfo.environment["AGE_TESTKIT_DIR"]

    @Test(
        "the C2SP age test vectors that use X25519 identities all give the expected outcome",
        .enabled(if: directory != nil))
    func vectors() throws {
        let directory = try #require(Self.directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        var passed: [String] = []
        var skipped: [String] = []
        for name in names {
            let data = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
            let split = try #require(
                (0..<data.count).first { data[$0...].starts(with: [10, 10]) }, "\(name): no blank line")
            var fields: [(String, String)] = []
            for line in String(decoding: data[..<split], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { fields.append((parts[0], parts[1])) }
            }
            let value = { (key: String) in fields.first { $0.0 == key }?.1 }
            var body = Array(data[(split + 2)...])
            if value("compressed") == "zlib" { body = try Self.inflate(body) }
            let identityTexts = fields.filter { $0.0 == "identity" }.map(\.1)
            if value("armored") == "yes" || value("passphrase") != nil || identityTexts.isEmpty
                || identityTexts.contains(where: { $0.hasPrefix("AGE-SECRET-KEY-PQ-") })
            {
                skipped.append(name)
                continue
            }
            let identities = try identityTexts.map { try AgeIdentity($0) }
            let expect = try #require(value("expect"), "\(name)")
            let payload = value("payload")

            let decryptor = AgeDecryptor(identities: identities)
            var plain: [UInt8] = []
            var failure: AgeError?
            do {
                try body.withUnsafeBytes { try decryptor.decrypt($0) { plain += $0 } }
                try decryptor.finish { plain += $0 }
            } catch {
                failure = try #require(error as? AgeError, "\(name): \(error)")
            }
            let released = Digest.hash(.sha256, plain).hexString
            let ok: Bool =
                switch expect {
                case "success": failure == nil && released == payload
                case "no match": failure?.kind == .noMatchingIdentity
                case "HMAC failure": failure?.kind == .headerMAC
                case "header failure": failure?.isHeaderFailure == true
                case "payload failure":
                    [.damagedPayload, .truncated, .trailingData].contains(failure?.kind) && released == payload
                default: false
                }
            #expect(
                ok,
                """
                \(name): expected \(expect), got \(failure.map { "\($0.kind): \($0)" } ?? "success") (payload \
                \(released == payload ? "as expected" : "differs"))
                """
            )
            if ok { passed.append(name) }
        }
        print(
            """
            age test vectors: \(passed.count) passed, \(skipped.count) skipped (passphrase, armor, post-quantum): \
            \(skipped.joined(separator: " "))
            """
        )
        #expect(passed.count > 50)
    }

    /// zlib, through Python's zlib module (Foundation here has no zlib).
    static func inflate(_ bytes: [UInt8]) throws -> [UInt8] {
        let scratch = try Scratch()
        try scratch.write("in", bytes)
        try scratch.shell(
            "python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.decompress(open(\"in\", \"rb\").read()))' > out"
        )
        return try scratch.read("out")
    }
}

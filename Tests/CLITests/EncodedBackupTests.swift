import BackupCore
import Foundation
import SystemCalls
import TestKit
import Testing

/// Compressed and encrypted backups, end to end through the real binary, and restorable with
/// Debian's own `age` and `zstd` alone (issue 15).
@Suite("Compressed and encrypted backups", .serialized)
struct EncodedBackupTests {
    /// An age key pair made by `age-keygen`: the identity file and its public key.
    static func keyPair(in cli: CLI, _ name: String) throws -> (identity: String, recipient: String) {
        let path = "\(cli.root)/\(name).key"
        let made = try Spawn.run("/usr/bin/age-keygen", ["-o", path])
        try #require(made.status == 0, "age-keygen: \(made.stderr)")
        let recipient = try #require(
            made.stderr.split(separator: " ").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) })
        return (path, recipient)
    }

    /// Runs a shell pipeline and returns the SHA-256 of what it writes.
    static func digest(of pipeline: String) throws -> String {
        let result = try Spawn.run("/bin/bash", ["-c", "set -o pipefail; \(pipeline) | sha256sum | cut -d' ' -f1"])
        #expect(result.status == 0, "\(pipeline): \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(
        "zstd: the backup is a .db.zst that zstd -d turns into exactly the verified snapshot, and restore gives it back"
    )
    func compressed() throws {
        let cli = try CLI.initialized(rows: 3000)
        try cli.addRegistration("small", "--compression", "zstd")
        let run = try cli("run", "small")
        #expect(run.status == 0, "\(run.output)")
        let backup = try #require((try cli.json("list", "--json") as! [[String: Any]]).first)
        let path = backup["location"] as! String
        #expect(path.hasSuffix(".db.zst"), "\(path)")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: "\(cli.root)/b") == [
                (path as NSString).lastPathComponent
            ], "no staging file left, plain or not")
        let plain = try #require(backup["plain_sha256"] as? String)
        #expect(
            backup["sha256"] as? String == (try FileSystem.sha256(of: path).sha256), "sha256 is of the stored bytes")
        #expect(try Self.digest(of: "zstd -dc '\(path)'") == plain, "Debian's zstd restores the verified snapshot")
        #expect((backup["size"] as! Int) < (backup["plain_size"] as! Int))

        let restored = "\(cli.root)/restored.db"
        let restore = try cli("restore", "latest", "--to", restored)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(restore.stdout.contains("decompressed"))
        #expect(try FileSystem.sha256(of: restored).sha256 == plain)
    }

    @Test(
        "age: the backup is a .db.zst.age that age -d | zstd -d restore; dbbackup needs the identity, and the right one"
    )
    func encrypted() throws {
        let cli = try CLI.initialized(rows: 2000)
        let (identity, recipient) = try Self.keyPair(in: cli, "backup")
        let (otherIdentity, _) = try Self.keyPair(in: cli, "other")
        try cli.addRegistration("offsite", "--compression", "zstd", "--recipient", recipient)
        #expect(try cli("run", "offsite").status == 0)
        let backup = try #require((try cli.json("list", "--json") as! [[String: Any]]).first)
        let path = backup["location"] as! String
        #expect(path.hasSuffix(".db.zst.age"), "\(path)")
        let plain = try #require(backup["plain_sha256"] as? String)
        #expect(
            try Self.digest(of: "age -d -i '\(identity)' '\(path)' | zstd -dc") == plain,
            "Debian's age and zstd restore it")
        #expect(
            !(try String(contentsOfFile: path, encoding: .isoLatin1)).contains("CREATE TABLE"),
            "nothing readable without the key")

        let restored = "\(cli.root)/restored.db"
        let none = try cli("restore", "latest", "--to", restored)
        #expect(none.status != 0)
        #expect(none.stderr.contains("give the identity"), "\(none.stderr)")
        let wrong = try cli("restore", "latest", "--to", restored, "--identity", otherIdentity)
        #expect(wrong.status != 0)
        #expect(wrong.stderr.lowercased().contains("identit"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: restored))
        let right = try cli("restore", "latest", "--to", restored, "--identity", identity)
        #expect(right.status == 0, "\(right.output)")
        #expect(right.stdout.contains("decrypted and decompressed"), "\(right.stdout)")
        #expect(try FileSystem.sha256(of: restored).sha256 == plain)
        // The secret key never appears in anything dbbackup printed.
        let key = try String(contentsOfFile: identity, encoding: .utf8).split(separator: "\n").first {
            $0.hasPrefix("AGE-SECRET-KEY-")
        }!
        #expect(!cli.transcript.contains(key))
    }

    @Test("a tampered or truncated encrypted backup is refused, from the registry and as a bare file")
    func tampered() throws {
        let cli = try CLI.initialized(rows: 2000)
        let (identity, recipient) = try Self.keyPair(in: cli, "backup")
        try cli.addRegistration("offsite", "--recipient", recipient)
        #expect(try cli("run", "offsite").status == 0)
        let path = try #require((try cli.json("list", "--json") as! [[String: Any]]).first?["location"] as? String)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // A copy without the registry or the extended attributes: only age's MAC can tell.
        let bare = "\(cli.root)/bare.db.age"
        var flipped = bytes
        flipped[flipped.count / 2] ^= 1
        try Data(flipped).write(to: URL(fileURLWithPath: bare))
        let tamperedBare = try cli("restore", bare, "--to", "\(cli.root)/t.db", "--identity", identity)
        #expect(tamperedBare.status != 0)
        #expect(tamperedBare.stderr.contains("cannot be decoded"), "\(tamperedBare.stderr)")
        try Data(bytes.prefix(bytes.count - 100)).write(to: URL(fileURLWithPath: bare))
        let truncated = try cli("restore", bare, "--to", "\(cli.root)/t.db", "--identity", identity)
        #expect(truncated.status != 0)
        #expect(truncated.stderr.contains("cannot be decoded"), "\(truncated.stderr)")
        // The registry's SHA-256 of the stored bytes catches it before any decoding.
        bytes[bytes.count / 2] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let recorded = try cli("restore", "latest", "--to", "\(cli.root)/t.db", "--identity", identity)
        #expect(recorded.stderr.contains("does not match the SHA-256 recorded in the registry"), "\(recorded.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(cli.root)/t.db"))
    }

    @Test("files made by Debian's zstd and age restore through dbbackup restore FILE")
    func madeByTheTools() throws {
        let cli = try CLI()
        try cli.makeDatabase(rows: 1000)
        let (identity, recipient) = try Self.keyPair(in: cli, "tools")
        let original = try FileSystem.sha256(of: cli.database).sha256
        let made = try Spawn.run(
            "/bin/sh",
            [
                "-c",
                """
                zstd -q -T0 -3 -c '\(cli.database)' > '\(cli.root)/x.db.zst' && age -r \(recipient) -o \
                '\(cli.root)/x.db.zst.age' '\(cli.root)/x.db.zst'
                """,
            ])
        try #require(made.status == 0, "\(made.stderr)")
        for (file, arguments) in [("x.db.zst", []), ("x.db.zst.age", ["--identity", identity])] {
            let restored = "\(cli.root)/from-\(file).db"
            let restore = try cli.run(["restore", "\(cli.root)/\(file)", "--to", restored] + arguments)
            #expect(restore.status == 0, "\(file): \(restore.output)")
            #expect(try FileSystem.sha256(of: restored).sha256 == original, "\(file)")
        }
    }
}

import Age
import BackupCore
import Foundation
import Hashing
import Synchronization
import SystemCalls
import TestKit
import Testing

/// The stored form of real SQLite databases, file to file, as the run and restore use it.
@Suite struct BackupCodecTests {
    /// A WAL-mode database checkpointed into its file, of about `rows` kilobytes of rows that
    /// compress like an application's (text, numbers, an index).
    static func database(in scratch: Scratch, rows: Int = 3000, name: String = "app.db") throws -> String {
        let path = scratch.file(name)
        let db = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, note TEXT, amount INTEGER)")
        try db.execute("BEGIN")
        let insert = try db.prepare("INSERT INTO orders (customer, note, amount) VALUES (?, ?, ?)")
        for index in 0..<rows {
            let note = String(decoding: TestData.text(800, seed: UInt64(index)).filter { $0 > 1 }, as: UTF8.self)
            try insert.run([.text("customer \(index % 97)"), .text(note), .integer(Int64(index * 37))])
        }
        try db.execute("COMMIT")
        try db.execute("CREATE INDEX orders_customer ON orders(customer)")
        return path
    }

    static let forms: [(String, Int?, Bool)] = [
        ("plain", nil, false), ("zstd", 3, false), ("age", nil, true), ("zstd+age", 3, true),
    ]

    @Test("each stored form round-trips a real database; the digests returned are those of the files", arguments: forms)
    func roundTrip(name: String, level: Int?, encrypted: Bool) throws {
        let scratch = try Scratch()
        let database = try Self.database(in: scratch)
        let identity = try AgeIdentity.generate()
        let form = StoredForm(compressionLevel: level, recipients: encrypted ? [identity.recipient] : [])
        let stored = scratch.file("db_v42_20261126T020000Z" + form.suffix)
        let progressed = Mutex<[Int64]>([])
        let encoded = try BackupCodec.encode(plainFile: database, as: form, toNewFile: stored, workers: 2, md5: true) {
            total in
            progressed.withLock { $0.append(total) }
        }
        let progress = progressed.withLock { $0 }

        let plainOnDisk = try FileSystem.sha256(of: database)
        let storedOnDisk = try FileSystem.sha256(of: stored)
        #expect(encoded.plainSHA256?.hexString == plainOnDisk.sha256 && encoded.plainSize == plainOnDisk.size)
        #expect(encoded.stored.sha256.hexString == storedOnDisk.sha256 && encoded.stored.size == storedOnDisk.size)
        #expect(encoded.stored.md5 == Digest.hash(.md5, try scratch.read(FileSystem.name(of: stored))))
        #expect(progress.last == encoded.stored.size && progress == progress.sorted())
        #expect(encoded.workers == (level == nil ? 0 : 2))
        if level != nil {
            #expect(
                encoded.stored.size * 3 < encoded.plainSize,
                "a text database compresses: \(encoded.stored.size) of \(encoded.plainSize)")
        }
        let unhashed = try BackupCodec.encode(
            plainFile: database, as: form, toNewFile: stored + ".unhashed", hashPlain: false)
        #expect(unhashed.plainSHA256 == nil && unhashed.plainSize == plainOnDisk.size)
        #expect(FileSystem.permissions(of: stored) == 0o600)

        let restored = scratch.file("restored.db")
        let decoded = try BackupCodec.decode(storedFile: stored, identities: [identity], toNewFile: restored)
        #expect(decoded.layers == form.layers)
        #expect(decoded.stored.sha256 == encoded.stored.sha256 && decoded.stored.size == encoded.stored.size)
        #expect(decoded.plain.sha256 == encoded.plainSHA256 && decoded.plain.size == encoded.plainSize)
        #expect(try FileSystem.sha256(of: restored).sha256 == plainOnDisk.sha256)
        #expect(try SQLiteConnection(path: restored, mode: .readOnly).scalar("PRAGMA integrity_check") == "ok")
    }

    @Test("an empty plain file, and one of exactly a chunk, round-trip in every form", arguments: [0, 65_536, 131_072])
    func edgeSizes(size: Int) throws {
        let scratch = try Scratch()
        let identity = try AgeIdentity.generate()
        let plain = try scratch.write("plain", TestData.random(size))
        for (name, level, encrypted) in Self.forms {
            let form = StoredForm(compressionLevel: level, recipients: encrypted ? [identity.recipient] : [])
            let stored = scratch.file("\(name)\(form.suffix)")
            _ = try BackupCodec.encode(plainFile: plain, as: form, toNewFile: stored)
            let decoded = try BackupCodec.decode(
                storedFile: stored, identities: [identity], toNewFile: scratch.file("\(name).out"))
            #expect(decoded.plain.size == Int64(size), "\(name)")
            #expect(same(try scratch.read("\(name).out"), try scratch.read("plain")), "\(name)")
        }
    }

    @Test(
        """
        what dbbackup stores, age -d | zstd -d restores byte for byte; what zstd -T0 -3 | age -r stores, dbbackup \
        restores
        """,
        .enabled(if: haveTools))
    func interoperability() throws {
        let scratch = try Scratch()
        let database = try Self.database(in: scratch, rows: 6000)
        try scratch.shell("age-keygen -o key.txt 2>/dev/null")
        let identities = try AgeKeyFile.identities(in: String(decoding: try scratch.read("key.txt"), as: UTF8.self))
        let recipient = identities[0].recipient

        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(compressionLevel: 3, recipients: [recipient]),
            toNewFile: scratch.file("ours.db.zst.age"))
        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(compressionLevel: 3), toNewFile: scratch.file("ours.db.zst"))
        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(recipients: [recipient]), toNewFile: scratch.file("ours.db.age"))
        try scratch.shell(
            """
            age -d -i key.txt ours.db.zst.age | zstd -d > both.db && zstd -d < ours.db.zst > zst.db && age -d -i \
            key.txt ours.db.age > age.db
            """
        )
        for name in ["both.db", "zst.db", "age.db"] {
            #expect(same(try scratch.read(name), try scratch.read("app.db")), "\(name)")
        }

        try scratch.shell(
            """
            zstd -q -T0 -3 < app.db | age -r \(recipient) > theirs.db.zst.age && zstd -q -T0 -3 app.db -o \
            theirs.db.zst && age -r \(recipient) -o theirs.db.age app.db && zstd -q -T0 -3 < app.db | age -r \
            \(recipient) > renamed.bin
            """
        )
        for (name, layers) in [
            ("theirs.db.zst.age", [StoredLayer.zstd, .age]), ("theirs.db.zst", [.zstd]), ("theirs.db.age", [.age]),
            ("renamed.bin", [.zstd, .age]),
        ] {
            let decoded = try BackupCodec.decode(
                storedFile: scratch.file(name), identities: identities, toNewFile: scratch.file("\(name).restored"))
            #expect(decoded.layers == layers, "\(name)")
            #expect(same(try scratch.read("\(name).restored"), try scratch.read("app.db")), "\(name)")
        }
    }

    /// Decodes `stored` to a new file and returns the error; the output must not be left behind.
    static func failure(_ stored: String, identities: [AgeIdentity], in scratch: Scratch) -> EncodingError? {
        let output = scratch.file("out-\(UUID().uuidString).db")
        defer { #expect(!FileSystem.exists(output), "a failed decode leaves nothing under its output name") }
        do {
            _ = try BackupCodec.decode(storedFile: stored, identities: identities, toNewFile: output)
            return nil
        } catch {
            return error
        }
    }

    @Test("no identity, the wrong one, a changed byte, a cut: each said as such, and nothing left behind")
    func failures() throws {
        let scratch = try Scratch()
        let database = try Self.database(in: scratch, rows: 2000)
        let (identity, stranger) = (try AgeIdentity.generate(), try AgeIdentity.generate())
        let both = scratch.file("b.db.zst.age")
        let zst = scratch.file("z.db.zst")
        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(compressionLevel: 3, recipients: [identity.recipient]), toNewFile: both)
        _ = try BackupCodec.encode(plainFile: database, as: StoredForm(compressionLevel: 3), toNewFile: zst)

        let none = Self.failure(both, identities: [], in: scratch)
        #expect(
            none?.kind == .identityNeeded && none?.message.contains("--identity") == true, "\(String(describing: none))"
        )
        let wrong = Self.failure(both, identities: [stranger], in: scratch)
        #expect(
            wrong?.kind == .wrongIdentity && wrong?.message.contains(stranger.recipient.description) == true,
            "\(String(describing: wrong))")

        let bytes = try scratch.read("b.db.zst.age")
        var changed = bytes
        changed[bytes.count / 2] ^= 4
        try scratch.write("changed.db.zst.age", changed)
        #expect(Self.failure(scratch.file("changed.db.zst.age"), identities: [identity], in: scratch)?.kind == .damaged)

        // A changed byte in the stanza's body: the file key no longer unwraps, so no identity
        // fits (age itself cannot tell this from the wrong key either).
        changed = bytes
        changed[80] ^= 1
        try scratch.write("header.db.zst.age", changed)
        let headerError = Self.failure(scratch.file("header.db.zst.age"), identities: [identity], in: scratch)
        #expect([.wrongIdentity, .damaged].contains(headerError?.kind), "\(String(describing: headerError))")

        let zstBytes = try scratch.read("z.db.zst")
        try scratch.write("cut.db.zst", Array(zstBytes.prefix(zstBytes.count * 2 / 3)))
        let cut = Self.failure(scratch.file("cut.db.zst"), identities: [], in: scratch)
        #expect(cut?.kind == .truncated && cut?.message.contains("cut short") == true, "\(String(describing: cut))")
        var flipped = zstBytes
        flipped[zstBytes.count / 2] ^= 0x10
        try scratch.write("flipped.db.zst", flipped)
        #expect(Self.failure(scratch.file("flipped.db.zst"), identities: [], in: scratch)?.kind == .damaged)

        // Cut at an age chunk boundary, after the header (a whole number of 64 KiB + 16 chunks).
        let headerLength = AgeStreamTests.headerLength(bytes)
        try scratch.write("short.db.zst.age", Array(bytes.prefix(headerLength + 65_552)))
        let short = Self.failure(scratch.file("short.db.zst.age"), identities: [identity], in: scratch)
        #expect(short?.kind == .truncated, "\(String(describing: short))")
    }

    @Test(
        "a name that claims .zst or .age must match the content; a name that claims nothing takes what the content is")
    func names() throws {
        let scratch = try Scratch()
        let database = try Self.database(in: scratch, rows: 200)
        let identity = try AgeIdentity.generate()
        try scratch.shell("cp app.db plain.db.zst")
        let plainNamedZst = Self.failure(scratch.file("plain.db.zst"), identities: [], in: scratch)
        #expect(
            plainNamedZst?.kind == .mismatchedName && plainNamedZst?.message.contains("named .zst") == true,
            "\(String(describing: plainNamedZst))")

        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(recipients: [identity.recipient]), toNewFile: scratch.file("enc.db.age")
        )
        try scratch.shell("cp enc.db.age enc.db.zst.age && cp enc.db.age enc.db.zst && cp enc.db.age enc.bin")
        let noZstdInside = Self.failure(scratch.file("enc.db.zst.age"), identities: [identity], in: scratch)
        #expect(
            noZstdInside?.kind == .mismatchedName && noZstdInside?.message.contains("no zstd-compressed data") == true,
            "\(String(describing: noZstdInside))")
        #expect(Self.failure(scratch.file("enc.db.zst"), identities: [identity], in: scratch)?.kind == .mismatchedName)
        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(compressionLevel: 3), toNewFile: scratch.file("z.db.zst"))
        try scratch.shell("cp z.db.zst z.db.age.zst")
        let ageInsideZstd = Self.failure(scratch.file("z.db.age.zst"), identities: [identity], in: scratch)
        #expect(
            ageInsideZstd?.kind == .mismatchedName
                && ageInsideZstd?.message.contains("named .age.zst but holds zstd") == true,
            "\(String(describing: ageInsideZstd))")
        let decoded = try BackupCodec.decode(
            storedFile: scratch.file("enc.bin"), identities: [identity], toNewFile: scratch.file("from-bin.db"))
        #expect(decoded.layers == [.age])
        #expect(StoredForm.layers(claimedBy: "db_v42_20261126T020000Z.db.zst.age") == [.zstd, .age])
        #expect(StoredForm.layers(claimedBy: "db_v42_20261126T020000Z.db") == [])
        #expect(StoredForm(compressionLevel: 3, recipients: [identity.recipient]).suffix == ".db.zst.age")
        #expect(StoredForm(recipients: [identity.recipient]).suffix == ".db.age")
        #expect(StoredForm.plain.suffix == ".db")
    }

    @Test("an existing output is never replaced, and a missing input is an I/O error naming it")
    func outputs() throws {
        let scratch = try Scratch()
        let database = try Self.database(in: scratch, rows: 50)
        try scratch.write("taken.db.zst", Array("keep me".utf8))
        #expect(
            performing: {
                try BackupCodec.encode(
                    plainFile: database, as: StoredForm(compressionLevel: 3), toNewFile: scratch.file("taken.db.zst"))
            },
            throws: { ($0 as? EncodingError)?.kind == .io })
        #expect(try scratch.read("taken.db.zst") == Array("keep me".utf8))
        #expect(
            performing: {
                try BackupCodec.encode(
                    plainFile: scratch.file("missing.db"), as: .plain, toNewFile: scratch.file("x.db"))
            },
            throws: { ($0 as? EncodingError).map { $0.kind == .io && $0.message.contains("missing.db") } ?? false })
        #expect(!FileSystem.exists(scratch.file("x.db")))
    }

    @Test("a full disk (/dev/full) stops encoding and decoding with ENOSPC, whichever thread writes")
    func fullDisk() throws {
        let scratch = try Scratch()
        let database = try Self.database(in: scratch, rows: 3000)
        let identity = try AgeIdentity.generate()
        let full = open("/dev/full", O_WRONLY)
        defer { close(full) }
        for form in [StoredForm.plain, StoredForm(compressionLevel: 3, recipients: [identity.recipient])] {
            #expect(
                performing: {
                    try BackupCodec.encode(plainFile: database, as: form, to: full, outputName: "/dev/full")
                },
                throws: { error in
                    guard let error = error as? EncodingError else { return false }
                    return error.kind == .io && error.systemError?.isNoSpace == true
                        && error.message.contains("writing /dev/full")
                })
        }
        let stored = scratch.file("b.db.zst.age")
        _ = try BackupCodec.encode(
            plainFile: database, as: StoredForm(compressionLevel: 3, recipients: [identity.recipient]),
            toNewFile: stored)
        #expect(
            performing: {
                try BackupCodec.decode(storedFile: stored, identities: [identity], to: full, outputName: "/dev/full")
            },
            throws: { ($0 as? EncodingError)?.systemError?.isNoSpace == true })
    }

    @Test("memory stays flat in the input's size: 16 MiB and 256 MiB take the same peak RSS to encode and decode")
    func memoryBound() throws {
        let scratch = try Scratch()
        let tool = try #require(Self.codecTool, "codec-tool is built beside the tests")
        try scratch.shell(
            """
            (head -c 8M /dev/urandom; yes 'customer 42 Prague invoice paid 2026-11-26' | head -c 8M) > small && \
            (head -c 128M /dev/urandom; yes 'customer 42 Prague invoice paid 2026-11-26' | head -c 128M) > big && \
            age-keygen -o key.txt 2>/dev/null
            """)
        let recipient = try scratch.shell("age-keygen -y key.txt").stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        func peak(_ arguments: String) throws -> Double {
            // ru_maxrss of the child alone: the test process's own memory does not count.
            let result = try scratch.shell(
                """
                python3 -c 'import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, \
                stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)' \
                \(tool) \(arguments)
                """
            )
            return Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .infinity
        }
        for workers in [0, 2, 4] {
            let small = try peak(
                "encode --zstd 3 --workers \(workers) --recipient \(recipient) small small-\(workers).db.zst.age")
            let big = try peak(
                "encode --zstd 3 --workers \(workers) --recipient \(recipient) big big-\(workers).db.zst.age")
            #expect(
                big - small < 12, "encoding with \(workers) workers: \(small) MiB for 16 MiB, \(big) MiB for 256 MiB")
            #expect(big < 96, "encoding with \(workers) workers: \(big) MiB")
        }
        let small = try peak("decode --identity key.txt small-2.db.zst.age small.out")
        let big = try peak("decode --identity key.txt big-2.db.zst.age big.out")
        #expect(big - small < 12, "decoding: \(small) MiB for 16 MiB, \(big) MiB for 256 MiB")
        try scratch.shell("cmp big big.out")
    }

    /// The codec-tool binary, in the directory the test bundle was built into.
    static let codecTool: String? = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("codec-tool").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }()
}

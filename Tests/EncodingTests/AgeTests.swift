import Age
import Foundation
import Hashing
import Testing

@Suite struct AgeKeyTests {
    @Test("the age spec's example identity has the spec's recipient, both ways through Bech32")
    func specExample() throws {
        let identity = try AgeIdentity("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
        #expect(identity.recipient.description == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
        #expect(identity.secretKeyText == "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
        #expect(
            try AgeRecipient("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj") == identity.recipient)
        #expect(
            try AgeRecipient("AGE1ZVKYG2LQZRAA2LNJVQEJ32NKUU0UES2S82HZRYE869XEEXVN73EQUNUJWJ") == identity.recipient)
        #expect(!identity.description.contains("SECRET"), "an identity's description must not show the key")
    }

    static let good = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"

    @Test(
        "a bad recipient says what is wrong and the expected form, and never repeats a secret key",
        arguments: [
            ("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX", "secret key"),
            ("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk", "wrong checksum"),
            ("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujw", "checksum"),
            ("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwjq", "checksum"),
            ("age1zvkyg2lqzraa2lbjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "\"b\" at position 19"),
            ("Age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "mixes upper and lower case"),
            ("age1 zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "white space"),
            ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2 user@host", "SSH"),
            ("hello", "not an age public key"),
            ("", "not an age public key"),
            ("age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", "plugin"),
        ])
    func badRecipients(text: String, expected: String) {
        do {
            let recipient = try AgeRecipient(text)
            Issue.record("\(text) was accepted as \(recipient)")
        } catch {
            #expect(error.reason.contains(expected), "\(error.reason)")
            #expect(
                error.reason.contains("age1 followed by 58 Bech32 characters") || expected == "secret key",
                "\(error.reason)")
            #expect(!error.reason.contains("GFPYYSJZ"), "a secret key must never be repeated: \(error.reason)")
        }
    }

    @Test(
        "an identity file as age-keygen writes it, with comments and blank lines; errors name the line, never the key")
    func identityFile() throws {
        let text = """
            # created: 2026-11-26T02:00:00Z
            # public key: age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj
            AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX

            """
        let identities = try AgeKeyFile.identities(in: text)
        #expect(identities.map(\.recipient.description) == [Self.good])
        let broken = text.replacingOccurrences(of: "Q4EGAEX", with: "Q4EGAEY")
        #expect(
            performing: { try AgeKeyFile.identities(in: broken) },
            throws: { error in
                let reason = (error as? AgeKeyError)?.reason ?? ""
                return reason.hasPrefix("line 3: ") && !reason.contains("GFPYYSJZ")
            })
        #expect { try AgeKeyFile.identities(in: "# nothing here\n") } throws: {
            ($0 as? AgeKeyError)?.reason.contains("no identity") == true
        }
        #expect { try AgeKeyFile.identities(in: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n") } throws: {
            ($0 as? AgeKeyError)?.reason.contains("SSH") == true
        }
        #expect { try AgeKeyFile.identities(in: "age-encryption.org/v1\n-> scrypt") } throws: {
            ($0 as? AgeKeyError)?.reason.contains("passphrase-protected") == true
        }
    }

    @Test("a recipients file: comments and blank lines skipped, each bad line reported by number")
    func recipientsFile() {
        let (recipients, problems) = AgeKeyFile.recipients(
            in: "# ops team\n\(Self.good)\n\n  \(Self.good.uppercased())  \nage1oops\n")
        #expect(recipients.count == 2)
        #expect(problems.map(\.line) == [5])
    }
}

@Suite struct AgeStreamTests {
    static func encrypt(
        _ plain: [UInt8], to recipients: [AgeRecipient], pieces: [Int] = [65_536 + 3, 1, 4096]
    ) throws -> [UInt8] {
        let encryptor = try AgeEncryptor(recipients: recipients)
        var out: [UInt8] = []
        try feed(plain, in: pieces) { try encryptor.encrypt($0) { out += $0 } }
        try encryptor.finish { out += $0 }
        return out
    }

    /// The plaintext released, and the error that ended decryption (nil: it succeeded).
    static func decrypt(
        _ file: [UInt8], with identities: [AgeIdentity], pieces: [Int] = [7, 65_552, 100_000, 1]
    ) -> (plain: [UInt8], error: AgeError?) {
        let decryptor = AgeDecryptor(identities: identities)
        var out: [UInt8] = []
        do {
            try feed(file, in: pieces) { try decryptor.decrypt($0) { out += $0 } }
            try decryptor.finish { out += $0 }
            return (out, nil)
        } catch {
            return (out, error as? AgeError)
        }
    }

    @Test(
        "round trips at 0 bytes and around the 64 KiB chunk boundaries, fed in pieces that split anything",
        arguments: [0, 1, 65_535, 65_536, 65_537, 131_072, 131_073, 3 * 65_536 + 17])
    func roundTrip(size: Int) throws {
        let identity = try AgeIdentity.generate()
        let plain = TestData.random(size, seed: UInt64(size) + 7)
        let file = try Self.encrypt(plain, to: [identity.recipient])
        let chunks = max(1, (size + 65_535) / 65_536)
        #expect(file.count > plain.count + chunks * 16 + 16, "header, nonce and one tag per chunk")
        for pieces in [[1 << 20], [1], [65_552], [65_551, 2], [13, 65_536]] where size < 70_000 || pieces != [1] {
            let (decrypted, error) = Self.decrypt(file, with: [identity], pieces: pieces)
            #expect(error == nil, "\(error.map(String.init(describing:)) ?? "") with pieces \(pieces)")
            #expect(same(decrypted, plain), "pieces \(pieces)")
        }
    }

    @Test("several recipients: each identity alone decrypts; another identity is told it does not match")
    func recipients() throws {
        let (a, b, stranger) = (try AgeIdentity.generate(), try AgeIdentity.generate(), try AgeIdentity.generate())
        let plain = TestData.text(100_000)
        let file = try Self.encrypt(plain, to: [a.recipient, b.recipient])
        #expect(same(Self.decrypt(file, with: [a]).plain, plain))
        #expect(same(Self.decrypt(file, with: [stranger, b]).plain, plain))
        let (released, error) = Self.decrypt(file, with: [stranger])
        #expect(released.isEmpty)
        #expect(error?.kind == .noMatchingIdentity)
        #expect(
            error?.description.contains(stranger.recipient.description) == true,
            "names the identity tried: \(String(describing: error))")
    }

    @Test("tampering: a changed MAC is the header's, a changed payload byte stops at its chunk after the good ones")
    func tampered() throws {
        let (identity, plain, file, headerEnd) = try Self.sealed(TestData.random(3 * 65_536 + 100))

        var mac = file
        let macStart = headerEnd - 16 - 44  // "--- " + 43 characters + "\n", then the 16-byte nonce
        mac[macStart + 4] = mac[macStart + 4] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let (macPlain, macError) = Self.decrypt(mac, with: [identity])
        #expect(macError?.kind == .headerMAC)
        #expect(macPlain.isEmpty)

        var payload = file
        payload[headerEnd + 65_552 + 1000] ^= 1  // in the second chunk
        let (released, payloadError) = Self.decrypt(payload, with: [identity])
        #expect(payloadError?.kind == .damagedPayload)
        #expect(payloadError?.description.contains("chunk 2") == true, "\(String(describing: payloadError))")
        #expect(same(released, Array(plain.prefix(65_536))), "only the authenticated first chunk is released")

        var nonce = file
        nonce[headerEnd - 1] ^= 1
        #expect(Self.decrypt(nonce, with: [identity]).error?.kind == .damagedPayload)
    }

    @Test("cut short: at a chunk boundary, inside a chunk, inside the header or nonce; or with bytes appended")
    func truncated() throws {
        let (identity, plain, file, headerEnd) = try Self.sealed(TestData.random(2 * 65_536 + 10))

        let boundary = Self.decrypt(Array(file.prefix(headerEnd + 65_552)), with: [identity])
        #expect(boundary.error?.kind == .truncated)
        #expect(boundary.error?.description.contains("cut short") == true)
        #expect(same(boundary.plain, Array(plain.prefix(65_536))))

        let twoChunks = Self.decrypt(Array(file.prefix(headerEnd + 2 * 65_552)), with: [identity])
        #expect(twoChunks.error?.kind == .truncated)

        let inside = Self.decrypt(Array(file.prefix(file.count - 5)), with: [identity])
        #expect(inside.error?.kind == .damagedPayload)
        #expect(inside.error?.description.contains("cut short") == true)

        #expect(Self.decrypt(Array(file.prefix(headerEnd)), with: [identity]).error?.kind == .truncated)
        let inNonce = Self.decrypt(Array(file.prefix(headerEnd - 3)), with: [identity]).error
        #expect(inNonce?.kind == .malformedHeader && inNonce?.description.contains("cut short") == true)
        let inHeader = Self.decrypt(Array(file.prefix(40)), with: [identity]).error
        #expect(inHeader?.kind == .malformedHeader && inHeader?.description.contains("cut short") == true)

        // After a full final chunk, an appended byte is trailing data; after a short one, the
        // final chunk no longer authenticates (age cannot tell those apart, nor can we).
        let whole = TestData.random(2 * 65_536)
        let full = try Self.encrypt(whole, to: [identity.recipient])
        let appended = Self.decrypt(full + [0], with: [identity])
        #expect(appended.error?.kind == .trailingData)
        #expect(same(appended.plain, whole), "everything authenticated was released before the trailing byte")
        let appendedShort = Self.decrypt(file + [0], with: [identity])
        #expect(appendedShort.error?.kind == .damagedPayload)
        #expect(same(appendedShort.plain, Array(plain.prefix(2 * 65_536))))
    }

    @Test("not age, armored, another version, a passphrase file: each refused as such")
    func refusals() throws {
        let identity = try AgeIdentity.generate()
        #expect(Self.decrypt(Array("SQLite format 3\0".utf8), with: [identity]).error?.kind == .notAge)
        #expect(
            Self.decrypt(Array("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n".utf8), with: [identity]).error?.kind
                == .armored)
        #expect(
            Self.decrypt(Array("age-encryption.org/v2\n".utf8), with: [identity]).error?.kind == .unsupportedVersion)
        #expect(Self.decrypt([], with: [identity]).error?.kind == .malformedHeader)
        let scrypt =
            """
            age-encryption.org/v1\n-> scrypt ajMFur+EJLGaohv/dLRGnw \
            18\n8SHBz/ldWnjyGFQqfjat6uNBarWqqEMDS7W8X7+Xq5Q\n--- HK2NmOBN9Dpq0Gw6xMCuhFcQlQLvZ/wQUi/2scLG75s\n
            """
        let error = Self.decrypt(Array(scrypt.utf8), with: [identity]).error
        #expect(error?.kind == .passphrase)
        #expect(error?.description.contains("passphrase") == true)
    }

    /// `plain` encrypted to a new identity, and the length of the file's header and nonce.
    static func sealed(
        _ plain: [UInt8]
    ) throws -> (identity: AgeIdentity, plain: [UInt8], file: [UInt8], headerEnd: Int) {
        let identity = try AgeIdentity.generate()
        let file = try encrypt(plain, to: [identity.recipient])
        return (identity, plain, file, headerLength(file))
    }

    /// Length of the header and nonce: up to the MAC line's end, plus 16.
    static func headerLength(_ file: [UInt8]) -> Int {
        let mac = Array("\n--- ".utf8)
        let start = (0..<file.count).first { file[$0...].starts(with: mac) }!
        return file[(start + 1)...].firstIndex(of: UInt8(ascii: "\n"))! + 1 + 16
    }

    @Test(
        """
        what we encrypt, age -d decrypts; what age -r encrypts (to one or two keys), we decrypt; age-keygen's \
        files read
        """,
        .enabled(if: haveTools))
    func interoperability() throws {
        let scratch = try Scratch()
        try scratch.shell("age-keygen -o key.txt 2>/dev/null && age-keygen -o other.txt 2>/dev/null")
        let identities = try AgeKeyFile.identities(in: String(decoding: try scratch.read("key.txt"), as: UTF8.self))
        let other = try AgeKeyFile.identities(in: String(decoding: try scratch.read("other.txt"), as: UTF8.self))
        let publicKey = try scratch.shell("age-keygen -y key.txt").stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(identities.first?.recipient.description == publicKey)

        for size in [0, 65_536, 200_003] {
            let plain = TestData.random(size, seed: UInt64(size))
            try scratch.write(
                "ours.age", try Self.encrypt(plain, to: [try AgeRecipient(publicKey), other[0].recipient]))
            try scratch.shell("age -d -i key.txt ours.age > ours.out && age -d -i other.txt ours.age > ours.other")
            #expect(same(try scratch.read("ours.out"), plain), "age -d, \(size) bytes")
            #expect(same(try scratch.read("ours.other"), plain))

            try scratch.write("plain", plain)
            try scratch.shell("age -r \(publicKey) -r $(age-keygen -y other.txt) -o theirs.age plain")
            let (decrypted, error) = Self.decrypt(try scratch.read("theirs.age"), with: other)
            #expect(error == nil, "\(String(describing: error))")
            #expect(same(decrypted, plain), "age -r, \(size) bytes")
        }

        // Our identity in a file, read by age.
        let ours = try AgeIdentity.generate()
        try scratch.write("ours.key", Array("# made by the test\n\(ours.secretKeyText)\n".utf8))
        try scratch.write("mine.age", try Self.encrypt(Array("hello".utf8), to: [ours.recipient]))
        #expect(try scratch.shell("age -d -i ours.key mine.age").stdout == "hello")
    }
}

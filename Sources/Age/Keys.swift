import Hashing

/// An age X25519 recipient: the public key files are encrypted to, written `age1…`
/// (Bech32, 62 characters). Holding one lets you encrypt, never decrypt.
public struct AgeRecipient: Sendable, Hashable, CustomStringConvertible {
    public static let expectedForm =
        "age1 followed by 58 Bech32 characters (62 in all), as age-keygen prints it after \"Public key:\""

    public let publicKey: [UInt8]

    public init(publicKey: [UInt8]) {
        precondition(publicKey.count == X25519.keySize, "an X25519 public key has 32 bytes")
        self.publicKey = publicKey
    }

    /// Parses `age1…`. The error says what is wrong without repeating the text, which might be
    /// a secret key pasted in the wrong place.
    public init(_ text: String) throws(AgeKeyError) {
        if text.uppercased().hasPrefix("AGE-SECRET-KEY-") {
            throw AgeKeyError(
                """
                is an age secret key, not a public key: a private key must never be kept on the server; give its \
                public key (age-keygen -y KEYFILE prints it)
                """
            )
        }
        if text.hasPrefix("ssh-") || text.hasPrefix("ecdsa-") {
            throw AgeKeyError("is an SSH public key; dbbackup encrypts to age X25519 keys only: \(Self.expectedForm)")
        }
        if text.contains(where: \.isWhitespace) {
            throw AgeKeyError("contains white space; expected \(Self.expectedForm)")
        }
        switch Bech32.decode(text) {
        case .failure(let problem):
            guard text.lowercased().hasPrefix("age1") else {
                throw AgeKeyError("is not an age public key; expected \(Self.expectedForm)")
            }
            throw AgeKeyError(Self.describe(problem, length: text.count))
        case .success(let (prefix, data)):
            if prefix == "age1pq" {
                throw AgeKeyError(
                    """
                    is a post-quantum (ML-KEM hybrid) age key, which dbbackup does not support; use an X25519 \
                    key: \(Self.expectedForm)
                    """
                )
            }
            if prefix.hasPrefix("age1") {
                throw AgeKeyError(
                    """
                    is an age plugin recipient (\(prefix)…), which dbbackup does not support; use an X25519 key: \
                    \(Self.expectedForm)
                    """
                )
            }
            guard prefix == "age" else { throw AgeKeyError("is not an age public key; expected \(Self.expectedForm)") }
            guard data.count == X25519.keySize else {
                throw AgeKeyError("is \(text.count) characters long; expected \(Self.expectedForm)")
            }
            publicKey = data
        }
    }

    /// `age1…`, lowercase.
    public var description: String { Bech32.encode(prefix: "age", data: publicKey) }

    static func describe(_ problem: Bech32.Problem, length: Int) -> String {
        switch problem {
        case .mixedCase: "mixes upper and lower case; write it as age-keygen printed it: \(expectedForm)"
        case .invalidCharacter(let character, let position):
            """
            has \"\(character)\" at position \(position + 1), which Bech32 does not use (no 1, b, i or o after \
            \"age1\"): a typo? Expected \(expectedForm)
            """
        case .badChecksum:
            """
            has a wrong checksum: a character was mistyped, swapped or lost (\(length) characters; expected \
            \(expectedForm))
            """
        case .noSeparator, .emptyPrefix, .tooShort, .badPadding:
            "is \(length) characters long; expected \(expectedForm)"
        }
    }
}

/// An age X25519 identity: the private key that decrypts what was encrypted to its
/// recipient, written `AGE-SECRET-KEY-1…`. Its description never shows the key.
public struct AgeIdentity: Sendable, CustomStringConvertible {
    let secretKey: [UInt8]
    /// The public key that goes with it.
    public let recipient: AgeRecipient

    public init(secretKey: [UInt8]) throws(AgeKeyError) {
        guard secretKey.count == X25519.keySize else { throw AgeKeyError("an X25519 secret key has 32 bytes") }
        do {
            recipient = AgeRecipient(publicKey: try X25519.publicKey(privateKey: secretKey))
        } catch {
            throw AgeKeyError("is not a usable X25519 key (\(error))")
        }
        self.secretKey = secretKey
    }

    /// Parses `AGE-SECRET-KEY-1…`; errors never repeat the text.
    public init(_ text: String) throws(AgeKeyError) {
        let upper = text.uppercased()
        if upper.hasPrefix("AGE-PLUGIN-") {
            throw AgeKeyError(
                "is an age plugin identity, which dbbackup does not support; use an X25519 identity (AGE-SECRET-KEY-1…)"
            )
        }
        if upper.hasPrefix("AGE-SECRET-KEY-PQ-") {
            throw AgeKeyError(
                """
                is a post-quantum (ML-KEM hybrid) age identity, which dbbackup does not support; use an X25519 \
                identity (AGE-SECRET-KEY-1…)
                """
            )
        }
        guard upper.hasPrefix("AGE-SECRET-KEY-1") else {
            throw AgeKeyError(
                """
                is not an age identity; expected AGE-SECRET-KEY-1 followed by 58 Bech32 characters, as age-keygen \
                writes it
                """
            )
        }
        guard case .success(let (prefix, data)) = Bech32.decode(text), prefix == "age-secret-key-",
            data.count == X25519.keySize
        else {
            throw AgeKeyError(
                """
                is not a valid age identity (wrong length, character or checksum); expected AGE-SECRET-KEY-1 \
                followed by 58 Bech32 characters
                """
            )
        }
        try self.init(secretKey: data)
    }

    /// A new identity from the CSPRNG (for tests and tools; the server never needs one).
    public static func generate() throws -> AgeIdentity {
        try AgeIdentity(secretKey: try secureRandomBytes(X25519.keySize))
    }

    /// `AGE-SECRET-KEY-1…`: the secret itself, for writing an identity file.
    public var secretKeyText: String { Bech32.encode(prefix: "AGE-SECRET-KEY-", data: secretKey, uppercase: true) }

    public var description: String { "age identity of \(recipient)" }
}

/// A key that cannot be used, and why (never the key itself).
public struct AgeKeyError: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Files of keys, in the formats the `age` tool reads: one key a line, `#` comments and
/// blank lines ignored.
public enum AgeKeyFile {
    /// The identities of an identity file (`age-keygen -o key.txt` writes one, with comments).
    /// Errors name the line and never repeat its text.
    public static func identities(in text: String) throws(AgeKeyError) -> [AgeIdentity] {
        let trimmed = text.trimmingWhitespace()
        if trimmed.hasPrefix("age-encryption.org/") || trimmed.hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----") {
            throw AgeKeyError(
                "is a passphrase-protected identity file; decrypt it first (age -d -o key.txt FILE) and give that")
        }
        if trimmed.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----") || trimmed.hasPrefix("-----BEGIN") {
            throw AgeKeyError(
                """
                is an SSH or PEM private key; dbbackup decrypts with age X25519 identities only \
                (AGE-SECRET-KEY-1…, as age-keygen writes them)
                """
            )
        }
        var identities: [AgeIdentity] = []
        for (index, line) in lines(text) {
            do {
                identities.append(try AgeIdentity(line))
            } catch {
                throw AgeKeyError("line \(index): \(error.reason)")
            }
        }
        guard !identities.isEmpty else {
            throw AgeKeyError("holds no identity (AGE-SECRET-KEY-1… lines); give the file age-keygen wrote")
        }
        return identities
    }

    /// The recipients of a recipients file (`age -R`'s format), with a problem for each line
    /// that is not one.
    public static func recipients(
        in text: String
    ) -> (recipients: [AgeRecipient], problems: [(line: Int, reason: String)]) {
        var recipients: [AgeRecipient] = []
        var problems: [(Int, String)] = []
        for (index, line) in lines(text) {
            do {
                recipients.append(try AgeRecipient(line))
            } catch {
                problems.append((index, error.reason))
            }
        }
        return (recipients, problems)
    }

    /// Numbered lines that are neither blank nor comments, trimmed.
    private static func lines(_ text: String) -> [(Int, String)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { offset, raw in
            let line = String(raw).trimmingWhitespace()
            return line.isEmpty || line.hasPrefix("#") ? nil : (offset + 1, line)
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

import Age
import FoundationEssentials
import Glibc
import SystemCalls
import Zstd

/// A registration's compression and encryption: how its backups are stored. Both are off by
/// default (plain `db_v….db` files).
///
/// In a registration file:
///
///     compression = "zstd"           # or "none" (the default)
///     compression_level = 3          # zstd level 1-19, default 3
///
///     [encryption]
///     recipients = ["age1…"]         # age X25519 public keys
///     recipients_file = "/etc/dbbackup/NAME.recipients"   # optional: more, one a line
///
/// The level is a key of its own beside `compression`, not a `[compression]` table, because
/// `compression = "zstd"` is the key docs/contract.md §8 names and TOML cannot have both. The recipients
/// file is read whenever the configuration is loaded (it may be shared and updated by other
/// tools); the server only ever holds public keys.
public struct EncodingSettings: Sendable, Equatable {
    public enum Compression: Sendable, Equatable {
        case none
        case zstd(level: Int)
    }

    public struct Encryption: Sendable, Equatable {
        /// The `recipients` list as written (in canonical lowercase).
        public var recipients: [AgeRecipient]
        /// `recipients_file` as written, if set.
        public var recipientsFile: String?
        /// `recipientsFile` made absolute (relative paths start at the configuration directory).
        public var resolvedRecipientsFile: String?
        /// The recipients read from the file when the configuration was loaded.
        public var fileRecipients: [AgeRecipient]

        public init(
            recipients: [AgeRecipient], recipientsFile: String? = nil, resolvedRecipientsFile: String? = nil,
            fileRecipients: [AgeRecipient] = []
        ) {
            self.recipients = recipients
            self.recipientsFile = recipientsFile
            self.resolvedRecipientsFile = resolvedRecipientsFile ?? recipientsFile
            self.fileRecipients = fileRecipients
        }

        /// Every recipient backups are encrypted to: the list's, then the file's, each once.
        public var allRecipients: [AgeRecipient] {
            var seen: Set<AgeRecipient> = []
            return (recipients + fileRecipients).filter { seen.insert($0).inserted }
        }
    }

    public var compression: Compression
    /// nil: backups are not encrypted.
    public var encryption: Encryption?

    public init(compression: Compression = .none, encryption: Encryption? = nil) {
        self.compression = compression
        self.encryption = encryption
    }

    public static let none = EncodingSettings()
    public static let defaultLevel = 3

    /// What the codec needs.
    public var storedForm: StoredForm {
        let level: Int? = if case .zstd(let level) = compression { level } else { nil }
        return StoredForm(compressionLevel: level, recipients: encryption?.allRecipients ?? [])
    }

    /// What backup file names end with: `.db`, `.db.zst`, `.db.age` or `.db.zst.age`.
    public var fileSuffix: String { storedForm.suffix }

    /// One line for people: "zstd level 3, age to 2 recipients".
    public var summary: String {
        let parts = [
            { if case .zstd(let level) = compression { "zstd level \(level)" } else { nil } }(),
            encryption.map { "age to \($0.allRecipients.count) recipient\($0.allRecipients.count == 1 ? "" : "s")" },
        ].compactMap { $0 }
        return parts.isEmpty ? "plain" : parts.joined(separator: ", ")
    }

    // MARK: reading and writing registration files

    static let recipientExample = "[\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]"

    /// Reads `compression`, `compression_level` and `[encryption]` from a registration's
    /// table, reporting every problem; nil if there was one.
    static func read(_ root: inout TableReader, sink: ProblemSink, configDirectory: String) -> EncodingSettings? {
        let before = sink.problems.count
        var settings = EncodingSettings()
        let kind = root.string("compression", example: "\"zstd\"")
        let level = root.integer("compression_level", example: "3")
        if let level, !ZstdCompressor.levels.contains(level) {
            sink.error(
                "compression_level", String(level),
                "must be between \(ZstdCompressor.levels.lowerBound) and \(ZstdCompressor.levels.upperBound)",
                fix:
                    """
                    3 is zstd's default; 19 is smallest and slowest (20-22 need more memory than dbbackup allows \
                    itself)
                    """
            )
        }
        switch kind {
        case nil, "none":
            if let level {
                sink.error(
                    "compression_level", String(level), "applies only to zstd compression",
                    fix: "add compression = \"zstd\", or leave the level out")
            }
        case "zstd":
            settings.compression = .zstd(level: level ?? defaultLevel)
        case let other?:
            sink.error(
                "compression", "\"\(other)\"", "must be \"zstd\" or \"none\"",
                fix:
                    """
                    compression = \"zstd\" stores backups compressed (names end .db.zst); leave it out for plain \
                    .db files
                    """
            )
        }
        if var section = root.table("encryption", example: "{ recipients = \(recipientExample) }") {
            settings.encryption = readEncryption(&section, sink: sink, configDirectory: configDirectory)
            section.rejectUnknownKeys()
        }
        return sink.problems[before...].contains { $0.severity == .error } ? nil : settings
    }

    private static func readEncryption(
        _ section: inout TableReader, sink: ProblemSink, configDirectory: String
    ) -> Encryption? {
        let texts = section.strings("recipients", example: recipientExample) ?? []
        let file = section.string("recipients_file", example: "\"/etc/dbbackup/app.recipients\"")
        var recipients: [AgeRecipient] = []
        for (index, text) in texts.enumerated() {
            do {
                recipients.append(try AgeRecipient(text))
            } catch {
                // A secret key pasted here is not repeated in the message.
                let shown =
                    text.uppercased().hasPrefix("AGE-SECRET-KEY")
                    ? nil : "\"\(text.count > 80 ? String(text.prefix(80)) + "…" : text)\""
                sink.error(
                    "encryption.recipients[\(index)]", shown, error.reason,
                    fix: "give the public key, e.g. recipients = \(recipientExample)")
            }
        }
        var fileRecipients: [AgeRecipient] = []
        var resolved: String?
        if let file {
            if file.isEmpty || hasControlCharacters(file) {
                sink.error(
                    "encryption.recipients_file", file.isEmpty ? "\"\"" : nil,
                    file.isEmpty ? "is empty" : "contains a line break or control character",
                    fix: "give the path of a file of age public keys, one a line, or remove it")
            } else {
                let path = FileSystem.absolute(file, relativeTo: configDirectory)
                resolved = path
                fileRecipients = readRecipientsFile(path, sink: sink)
            }
        }
        let encryption = Encryption(
            recipients: recipients, recipientsFile: file, resolvedRecipientsFile: resolved,
            fileRecipients: fileRecipients)
        if encryption.allRecipients.isEmpty && !sink.hasErrors {
            sink.error(
                "encryption", nil, "has no recipients: backups cannot be encrypted to nobody",
                fix:
                    """
                    add recipients = \(recipientExample) (the public key age-keygen prints), or recipients_file; \
                    remove [encryption] to store backups unencrypted
                    """
            )
        }
        return encryption
    }

    private static func readRecipientsFile(_ path: String, sink: ProblemSink) -> [AgeRecipient] {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readAll(path)
        } catch {
            sink.error(
                "encryption.recipients_file", "\"\(path)\"",
                "cannot be read: \(String(cString: strerror(error.errno)))",
                fix:
                    """
                    create it with one age public key (age1…) per line, # for comments, readable by the dbbackup \
                    service
                    """
            )
            return []
        }
        let (recipients, problems) = AgeKeyFile.recipients(in: String(decoding: bytes, as: UTF8.self))
        for problem in problems {
            sink.error(
                "encryption.recipients_file", "\"\(path)\"", "line \(problem.line): \(problem.reason)",
                fix: "one age public key (age1…) per line; # starts a comment")
        }
        if problems.isEmpty && recipients.isEmpty {
            sink.error(
                "encryption.recipients_file", "\"\(path)\"", "holds no recipient",
                fix: "add one age public key (age1…) per line")
        }
        if let mode = FileSystem.permissions(of: path), mode & 0o022 != 0 {
            sink.warning(
                "encryption.recipients_file", "\"\(path)\"",
                """
                can be written by others than its owner: whoever writes to it can add a key and read the backups \
                taken after
                """,
                fix: "chmod go-w \(path)")
        }
        return recipients
    }

    /// Writes the settings into a registration's table (nothing for the defaults).
    static func render(_ settings: EncodingSettings, into table: inout [String: ConfigValue]) {
        if case .zstd(let level) = settings.compression {
            table["compression"] = .string("zstd")
            table["compression_level"] = .integer(level)
        }
        if let encryption = settings.encryption {
            var section: [String: ConfigValue] = [:]
            if !encryption.recipients.isEmpty {
                section["recipients"] = .array(encryption.recipients.map { .string($0.description) })
            }
            if let file = encryption.recipientsFile { section["recipients_file"] = .string(file) }
            table["encryption"] = .table(section)
        }
    }
}

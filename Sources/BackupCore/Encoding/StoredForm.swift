import Age
import FoundationEssentials

/// A layer a stored backup may have around the plain database.
public enum StoredLayer: String, Sendable, Equatable, CustomStringConvertible {
    /// zstd-compressed (`.zst`).
    case zstd
    /// age-encrypted (`.age`).
    case age

    public var description: String { rawValue }
    public var suffix: String { rawValue == "zstd" ? ".zst" : ".age" }
}

/// How a registration's backups are stored: the plain database (the default, `.db`), or
/// compressed with zstd (`.db.zst`), encrypted with age (`.db.age`), or both, compressed
/// first (`.db.zst.age`: encrypted data does not compress).
public struct StoredForm: Sendable, Equatable {
    /// The zstd level; nil: not compressed.
    public var compressionLevel: Int?
    /// The age recipients; empty: not encrypted.
    public var recipients: [AgeRecipient]

    public init(compressionLevel: Int? = nil, recipients: [AgeRecipient] = []) {
        self.compressionLevel = compressionLevel
        self.recipients = recipients
    }

    public static let plain = StoredForm()

    /// The layers around the database, innermost first.
    public var layers: [StoredLayer] {
        (compressionLevel == nil ? [] : [.zstd]) + (recipients.isEmpty ? [] : [.age])
    }

    /// What a backup file's name ends with: `.db`, `.db.zst`, `.db.age` or `.db.zst.age`.
    public var suffix: String { ".db" + layers.map(\.suffix).joined() }

    /// The layers a file name claims, innermost first: `x.db.zst.age` claims zstd then age;
    /// a name without `.zst` or `.age` at its end claims none.
    public static func layers(claimedBy name: String) -> [StoredLayer] {
        var rest = Substring(name)
        var layers: [StoredLayer] = []
        while true {
            if rest.hasSuffix(".age") {
                layers.insert(.age, at: 0)
                rest = rest.dropLast(4)
            } else if rest.hasSuffix(".zst") {
                layers.insert(.zstd, at: 0)
                rest = rest.dropLast(4)
            } else {
                return layers
            }
        }
    }

    /// zstd worker threads for a backup: one per CPU this process may use, at most 4. Each
    /// worker adds 3-5 MiB at level 3 with 1 MiB jobs (measured, release build, 256 MiB
    /// compressed and encrypted: peak RSS 31 MiB on the caller's thread, 40 with 2 workers,
    /// 46 with 4, 54 with 8), so the cap keeps memory flat on a large host; 4 workers already
    /// outrun most disks and networks, and the backup leaves the other CPUs to the application.
    public static var defaultWorkers: Int { min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4) }
}

/// The first bytes of each format, for telling a stored file's layers by its content.
enum Magic {
    static let zstd: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd]
    static let age = Array("age-encryption.org/".utf8)
    static let ageArmor = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
    static let longest = ageArmor.count

    enum Verdict { case zstd, age, other, undecided }

    /// What `head` (the first bytes of a file, or all of it at `end`) starts with.
    static func classify(_ head: [UInt8], end: Bool) -> Verdict {
        if head.starts(with: zstd) { return .zstd }
        if head.starts(with: age) || head.starts(with: ageArmor) { return .age }
        let couldStill = [zstd, age, ageArmor].contains { head.count < $0.count && $0.starts(with: head) }
        return couldStill && !end ? .undecided : .other
    }
}

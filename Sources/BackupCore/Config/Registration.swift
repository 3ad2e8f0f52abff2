import SystemCalls

/// One backup job: a unique name, where backups go, and when they are taken.
public struct Registration: Sendable, Equatable {
    public var name: String
    public var provider: Provider
    public var schedule: Schedule
    /// Pinged on start, success and failure (`heartbeat_url`); nil: the global one of
    /// `[monitoring]`, if any; empty: none.
    public var heartbeatURL: String?
    /// Compression and encryption of its backups (none by default).
    public var encoding: EncodingSettings

    public init(name: String, provider: Provider, schedule: Schedule, encoding: EncodingSettings = .none) {
        self.name = name
        self.provider = provider
        self.schedule = schedule
        self.encoding = encoding
    }

    public enum Provider: Sendable, Equatable {
        case filesystem(FilesystemTarget)
        case s3(S3Target)

        public var kind: String {
            switch self {
            case .filesystem: "filesystem"
            case .s3: "s3"
            }
        }
    }
}

/// A local directory. `path` is as written; `resolvedPath` is absolute (relative paths are
/// taken from the configuration directory).
public struct FilesystemTarget: Sendable, Equatable {
    public var path: String
    public var resolvedPath: String

    public init(path: String, configDirectory: String) {
        self.path = path
        self.resolvedPath = FileSystem.absolute(path, relativeTo: configDirectory)
    }
}

/// A bucket in any S3-compatible store. The secret key is not here: it lives in its own
/// root-only file (see `SecretFiles`) and is never part of a registration's data.
public struct S3Target: Sendable, Equatable {
    public var bucket: String
    public var endpoint: String
    public var region: String
    public var forcePathStyle: Bool
    public var prefix: String
    /// Empty with instance credentials (`settings.credentials == .instance`).
    public var accessKey: String
    /// Credentials source, encryption at rest, storage class (see `S3Settings`).
    public var settings: S3Settings

    public init(
        bucket: String, endpoint: String = "", region: String = "", forcePathStyle: Bool = false, prefix: String = "",
        accessKey: String,
        settings: S3Settings = S3Settings()
    ) {
        self.bucket = bucket
        self.endpoint = endpoint
        self.region = region
        self.forcePathStyle = forcePathStyle
        self.prefix = prefix
        self.accessKey = accessKey
        self.settings = settings
    }

    /// What object keys start with: the prefix as a folder, so `myapp` and `myapp/` both give
    /// `myapp/db_v42_….db` and every backup's file name starts `db_v` as docs/contract.md §3 says.
    public var keyPrefix: String { prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/" }
}

/// Registration names become systemd unit instance names (`dbbackup@NAME.service`) and
/// file names, so they are kept to a plain alphabet.
public enum RegistrationName {
    public static let rule = "1-64 characters: letters, digits, '-' and '_', starting with a letter or digit"

    public static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64,
            first.isASCIIAlphanumeric
        else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "-" || $0 == "_" }
    }

    /// What is wrong with a name, for the error message.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if isValid(name) { return nil }
        if name.contains("/") { return "contains '/'" }
        if name.contains(where: \.isNewline) { return "contains a line break" }
        if name.contains(where: \.isWhitespace) { return "contains white space" }
        if name.unicodeScalars.count > 64 { return "is longer than 64 characters" }
        if name.unicodeScalars.first?.isASCIIAlphanumeric == false { return "must start with a letter or digit" }
        return "contains characters that cannot be used in a systemd unit name"
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}

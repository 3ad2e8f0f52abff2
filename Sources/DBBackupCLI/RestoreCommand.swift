import Age
import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Copy a backup out to PATH, verified by its SHA-256 and PRAGMA integrity_check, written atomically.",
        discussion: """
            BACKUP is a backup id (see `dbbackup list`), latest, a backup file, or s3://BUCKET/KEY. \
            A file or an S3 object needs no registry: the SHA-256 recorded beside it (the file's \
            extended attribute, the object's metadata) is checked where there is one, and the \
            database always passes PRAGMA integrity_check. For s3://BUCKET/KEY give the store \
            (--endpoint, --region, --force-path-style) and a key that may read it.

            Stop the application before restoring over its live database: --force refuses while a \
            process has it open, unless --even-if-open is given too.
            """)

    @OptionGroup var globals: GlobalOptions
    @Argument(help: ArgumentHelp("A backup id, latest, a backup file, or s3://BUCKET/KEY.", valueName: "BACKUP"))
    var backup: String
    @Option(help: "With latest: the newest backup of this registration.") var registration: String?
    @Option(help: ArgumentHelp("Where to write the database.", valueName: "PATH")) var to: String
    @Flag(help: "Replace PATH if it exists (and remove its -wal/-shm files), unless a process has it open.") var force =
        false
    @Flag(help: "With --force: replace PATH even while a process (the application) has it open.")
    var evenIfOpen = false
    @Option(help: ArgumentHelp("s3://BUCKET/KEY: the store's endpoint URL; empty for AWS.", valueName: "URL"))
    var endpoint: String?
    @Option(help: "s3://BUCKET/KEY: the region.") var region: String?
    @Flag(help: "s3://BUCKET/KEY: path-style addressing.") var forcePathStyle = false
    @OptionGroup var readKey: ReadKeyOptions
    @Option(
        name: .customLong("identity"),
        help: ArgumentHelp(
            "An encrypted backup: the age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it); repeatable.",
            valueName: "FILE"))
    var identityFiles: [String] = []

    private enum Choice {
        case recorded(Restorer.Selector)
        case file(String)
        case object(bucket: String, key: String)
    }

    private var choice: Choice {
        if backup == "latest" { return .recorded(.latest) }
        if let id = Int64(backup) { return .recorded(.id(id)) }
        if backup.hasPrefix("s3://") {
            let rest = backup.dropFirst(5)
            let bucket = rest.prefix { $0 != "/" }
            return .object(bucket: String(bucket), key: String(rest.dropFirst(bucket.count + 1)))
        }
        return .file(backup)
    }

    func validate() throws {
        if evenIfOpen && !force { throw ValidationError("--even-if-open goes with --force") }
        switch choice {
        case .object(let bucket, let key):
            if bucket.isEmpty || key.isEmpty {
                throw ValidationError("\(backup): write an S3 backup as s3://BUCKET/KEY")
            }
            if readKey.accessKey == nil {
                throw ValidationError("\(backup): give a key that may read it: --access-key KEY --secret-key-stdin")
            }
        case .recorded, .file:
            if endpoint != nil || region != nil || forcePathStyle {
                throw ValidationError("--endpoint, --region and --force-path-style go with an s3://BUCKET/KEY backup")
            }
        }
    }

    /// The age identities of `--identity` files. Their keys are never printed, even in errors.
    private func identities() throws -> [AgeIdentity] {
        try identityFiles.flatMap { file -> [AgeIdentity] in
            let text: String
            do {
                text = try FileSystem.readText(CommandLineFields.absolutePath(file), limit: 1 << 20)
            } catch {
                throw CLIError("--identity \(file): \(error)", exitCode: ExitStatus.configuration.code)
            }
            do {
                return try AgeKeyFile.identities(in: text)
            } catch {
                throw CLIError(
                    "--identity \(file): \((error as? AgeKeyError)?.reason ?? "\(error)")",
                    exitCode: ExitStatus.configuration.code)
            }
        }
    }

    func run() throws {
        do {
            let restorer = Restorer(locations: globals.locations)
            let identities = try identities()
            do {
                switch choice {
                case .recorded(let selector):
                    let (record, passedOver) =
                        if case .latest = selector {
                            try restorer.latestToRestore(registration: registration)
                        } else {
                            (try restorer.find(selector, registration: registration), [BackupRecord]())
                        }
                    let report = try restorer.restore(
                        .record(record, s3: try s3Access(for: record)), to: to, force: force, evenIfOpen: evenIfOpen,
                        identities: identities)
                    print(
                        """
                        restored backup \(record.id) (\(record.registration), \(record.createdAt.rfc3339), schema \
                        version \(record.version ?? "?")) to \(report.target)\(decoded(report)); sha256 \
                        \(report.sha256) verified, integrity_check ok
                        """
                    )
                    if !passedOver.isEmpty {
                        let ids = passedOver.map { String($0.id) }.joined(separator: ", ")
                        print(
                            """
                            latest is the newest good backup: passed over the newer suspect backup(s) \(ids), not \
                            confirmed (see dbbackup list); restore one by its id if that is what you want
                            """
                        )
                    }
                case .file(let path):
                    let source = CommandLineFields.absolutePath(path)
                    let report = try restorer.restore(
                        .file(source), to: to, force: force, evenIfOpen: evenIfOpen, identities: identities)
                    print("restored \(source) to \(report.target); " + checked(report))
                case .object(let bucket, let key):
                    var target = S3Target(
                        bucket: bucket, endpoint: endpoint ?? "", region: region ?? "", forcePathStyle: forcePathStyle,
                        accessKey: readKey.accessKey ?? "")
                    target.prefix = ""
                    let secret = try readKey.secret() ?? ""
                    let access = Restorer.S3Access(
                        target: target, secret: secret, transfer: (try? globals.store.loadMain().s3) ?? S3Transfer())
                    let report = try restorer.restore(
                        .object(key: key, access: access), to: to, force: force, evenIfOpen: evenIfOpen,
                        identities: identities)
                    print("restored s3://\(bucket)/\(key) to \(report.target); " + checked(report))
                }
            } catch let error as RestoreError {
                throw CLIError(error.message, exitCode: ExitStatus.failure.code)
            }
        }
    }

    /// ", decrypted and decompressed" for a backup stored in layers.
    private func decoded(_ report: Restorer.Report) -> String {
        report.layers.isEmpty
            ? ""
            : ", "
                + report.layers.reversed().map { $0 == .age ? "decrypted" : "decompressed" }.joined(separator: " and ")
    }

    private func checked(_ report: Restorer.Report) -> String {
        decoded(report).dropFirst(2).description + (report.layers.isEmpty ? "" : "; ")
            + (report.checkedAgainst.map { "sha256 \(report.sha256) verified against \($0), integrity_check ok" }
                ?? "sha256 \(report.sha256) (no recorded SHA-256 to check it against), integrity_check ok")
    }

    /// For a backup in S3: the store of its registration, with the credentials given here or
    /// the registration's own. Without the registration, the key given here and the store
    /// the registry recorded.
    private func s3Access(for record: BackupRecord) throws -> Restorer.S3Access? {
        guard case .object(let object)? = record.location else { return nil }
        let transfer = (try? globals.store.loadMain().s3) ?? S3Transfer()
        var target: S3Target
        var secret: String?
        if let registration = try? globals.store.registration(named: record.registration),
            case .s3(let configured) = registration.provider
        {
            target = configured
            secret = globals.secrets.secret(for: record.registration)
        } else if let accessKey = readKey.accessKey {
            target = S3Target(
                bucket: object.bucket, endpoint: endpoint ?? object.endpoint ?? "",
                region: region ?? object.region ?? "",
                forcePathStyle: forcePathStyle || (object.forcePathStyle ?? false), accessKey: accessKey)
        } else {
            return nil
        }
        if let accessKey = readKey.accessKey {
            target.accessKey = accessKey
            target.settings.credentials = .secret
            secret = try readKey.secret()
        } else if target.settings.usesInstanceCredentials {
            secret = ""  // the instance role's credentials (it needs s3:GetObject)
        }
        guard let secret else {
            throw CLIError("no secret key for \(record.registration); give --access-key with --secret-key-stdin")
        }
        return Restorer.S3Access(target: target, secret: secret, transfer: transfer)
    }
}

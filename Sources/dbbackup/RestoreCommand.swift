import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a backup out to PATH, verified by its SHA-256 and PRAGMA integrity_check, written atomically.",
        discussion: "Stop the application before restoring over its live database (--force).")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "A backup id (see `dbbackup list`), or latest.") var backup: String
    @Option(help: "With latest: the newest backup of this registration.") var registration: String?
    @Option(help: ArgumentHelp("Where to write the database.", valueName: "PATH")) var to: String
    @Flag(help: "Replace PATH if it exists (and remove its -wal/-shm files).") var force = false
    @Option(name: .customLong("access-key"), help: "s3: read with this access key instead of the registration's (restore needs s3:GetObject).")
    var accessKey: String?
    @Flag(name: .customLong("secret-key-stdin"), help: "s3: the secret key of --access-key, from standard input.") var secretKeyStdin = false
    @Option(name: .customLong("secret-key-file"), help: ArgumentHelp("s3: the secret key of --access-key, from a file.", valueName: "FILE"))
    var secretKeyFile: String?

    func validate() throws {
        if backup != "latest" && Int64(backup) == nil {
            throw ValidationError("\(backup) is not a backup id; give a number from `dbbackup list`, or latest")
        }
        if (accessKey != nil) != (secretKeyStdin || secretKeyFile != nil) {
            throw ValidationError("--access-key goes with --secret-key-stdin or --secret-key-file")
        }
    }

    func run() throws {
        try reportingErrors {
            let restorer = Restorer(locations: globals.locations)
            do {
                let record = try restorer.find(backup == "latest" ? .latest : .id(Int64(backup)!), registration: registration)
                let target = try restorer.restore(record, to: to, force: force, s3: try s3Access(for: record))
                print("restored backup \(record.id) (\(record.registration), \(record.createdAt.rfc3339), schema version \(record.version ?? "?")) to \(target); sha256 \(record.sha256 ?? "?") verified, integrity_check ok")
            } catch let error as RestoreError {
                throw CLIError(error.message, exitCode: 1)
            }
        }
    }

    /// For a backup in S3: the store of its registration, with the credentials given here or
    /// the registration's own.
    private func s3Access(for record: BackupRecord) throws -> Restorer.S3Access? {
        guard case .object? = record.location,
              let registration = try? globals.store.registration(named: record.registration),
              case .s3(var target) = registration.provider else { return nil }
        var secret = globals.secrets.secret(for: record.registration)
        if let accessKey {
            target.accessKey = accessKey
            target.settings.credentials = .secret
            secret = try RegistrationOptions.readSecret(fromStandardInput: secretKeyStdin, file: secretKeyFile)
        } else if target.settings.usesInstanceCredentials {
            secret = ""  // the instance role's credentials (it needs s3:GetObject)
        }
        guard let secret else {
            throw CLIError("no secret key for \(record.registration); give --access-key with --secret-key-stdin")
        }
        return Restorer.S3Access(target: target, secret: secret, transfer: (try? globals.store.loadMain().s3) ?? S3Transfer())
    }
}

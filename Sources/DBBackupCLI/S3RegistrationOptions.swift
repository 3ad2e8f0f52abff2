import ArgumentParser
import BackupCore

/// The options of `registration add|edit` for how an s3 registration talks to AWS and its
/// peers: instance-role credentials, encryption at rest, storage class. Laid over the
/// registration's table like the other options (`RegistrationOptions.apply`), so the same
/// reader validates them as in a file (`S3Settings`).
struct S3RegistrationOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            s3: instance = temporary credentials of this cloud instance's IAM role (IMDSv2), no access key or \
            stored secret; secret = --access-key with a stored secret key (the default).
            """,
            valueName: "instance|secret"))
    var credentials: String?

    @Option(
        help: ArgumentHelp(
            """
            s3: encryption at rest the store applies: AES256 (SSE-S3) or aws:kms (SSE-KMS); \"\" for the bucket's \
            default.
            """,
            valueName: "AES256|aws:kms"))
    var serverSideEncryption: String?

    @Option(
        help: ArgumentHelp(
            "s3: with aws:kms, the KMS key id, ARN or alias (default: the account's aws/s3 key); \"\" to drop it.",
            valueName: "KEY"))
    var kmsKeyID: String?

    @Option(
        help: ArgumentHelp(
            "s3: storage class of the backups, e.g. STANDARD_IA, GLACIER_IR; \"\" for the store's default (STANDARD).",
            valueName: "CLASS"))
    var storageClass: String?

    /// Registration file keys and the options that set them, for error messages.
    static let fieldNames: [(String, String)] = [
        ("credentials", "--credentials"), ("server_side_encryption", "--server-side-encryption"),
        ("kms_key_id", "--kms-key-id"), ("storage_class", "--storage-class"),
    ]

    var givenFields: Set<String> {
        Set(
            [
                ("credentials", credentials), ("server_side_encryption", serverSideEncryption),
                ("kms_key_id", kmsKeyID),
                ("storage_class", storageClass),
            ].filter { $0.1 != nil }.map(\.0))
    }

    /// Lays the given options over a registration table. An empty value removes the setting;
    /// `--credentials secret` is the default, so it removes `credentials`. Switching to
    /// instance credentials drops the access key unless one is given (which the reader then
    /// refuses, naming it); switching away from aws:kms drops the KMS key.
    func apply(to table: inout [String: ConfigValue], accessKeyGiven: Bool) {
        for (key, value) in [
            ("credentials", credentials == S3Settings.Credentials.secret.rawValue ? "" : credentials),
            ("server_side_encryption", serverSideEncryption), ("kms_key_id", kmsKeyID), ("storage_class", storageClass),
        ] {
            guard let value else { continue }
            if value.isEmpty { table.removeValue(forKey: key) } else { table[key] = .string(value) }
        }
        if credentials == S3Settings.Credentials.instance.rawValue && !accessKeyGiven {
            table.removeValue(forKey: "access_key")
        }
        if let serverSideEncryption, serverSideEncryption != "aws:kms", kmsKeyID == nil {
            table.removeValue(forKey: "kms_key_id")
        }
    }

    /// Refuses a secret key for a registration that uses the instance's role: a registration
    /// has one or the other, never both.
    static func checkSecret(_ registration: Registration, supplied: String?, options: RegistrationOptions) throws {
        guard case .s3(let target) = registration.provider, target.settings.usesInstanceCredentials, supplied != nil
        else { return }
        throw CLIError.configuration([
            ConfigProblem(
                file: "command line", field: options.secretKeyStdin ? "--secret-key-stdin" : "--secret-key-file",
                message:
                    """
                    a registration with --credentials instance has no secret key: it signs with the instance \
                    role's temporary credentials
                    """,
                fix: "leave it out, or use --credentials secret with --access-key to store a key instead")
        ])
    }

    /// Warns (on stderr) when retention would delete this registration's backups before its
    /// storage class's minimum storage duration: about the option when it was given, else
    /// (`registration edit` of something else) about the stored file.
    static func warnAboutRetention(
        _ registration: Registration, globals: GlobalOptions, given: Set<String>, editing: Bool
    ) {
        guard let main = try? globals.store.loadMain(),
            let warning = S3Settings.retentionWarning(registration, retention: main.retention, file: "command line")
        else { return }
        let storedFile = globals.locations.display(globals.locations.registrationFile(registration.name))
        let shown =
            editing
            ? CommandLineFields.translate([warning], given: given, storedFile: storedFile)
            : [CommandLineFields.translate(warning)]
        for problem in shown { Output.stderr(problem.description) }
    }
}

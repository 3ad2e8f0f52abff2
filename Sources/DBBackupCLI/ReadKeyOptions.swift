import ArgumentParser

/// A key given for one command to read a bucket with, instead of a registration's stored
/// credentials: `--access-key` and its secret from standard input or a file. The options of
/// `restore` and `registry rebuild`; nothing given here is stored.
struct ReadKeyOptions: ParsableArguments {
    @Option(
        help:
            """
            s3: read with this access key instead of the registration's (restore needs s3:GetObject; registry \
            rebuild needs s3:ListBucket and s3:GetObject).
            """)
    var accessKey: String?

    @Flag(help: "s3: the secret key of --access-key, from standard input.")
    var secretKeyStdin = false

    @Option(help: ArgumentHelp("s3: the secret key of --access-key, from a file.", valueName: "FILE"))
    var secretKeyFile: String?

    func validate() throws {
        if (accessKey != nil) != (secretKeyStdin || secretKeyFile != nil) {
            throw ValidationError("--access-key goes with --secret-key-stdin or --secret-key-file")
        }
    }

    /// The secret key of `--access-key`, read from standard input or the file; nil without one.
    func secret() throws -> String? {
        try RegistrationOptions.readSecret(fromStandardInput: secretKeyStdin, file: secretKeyFile)
    }
}

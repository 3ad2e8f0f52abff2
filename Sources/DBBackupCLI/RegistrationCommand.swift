import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

struct RegistrationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registration",
        abstract: "Add, change, remove and inspect backup registrations.",
        subcommands: [Add.self, Edit.self, Remove.self, ListRegistrations.self, Show.self, Test.self]
    )
}

extension RegistrationCommand {
    /// Validates a registration table from the command line, stores it with its secret, and
    /// reports it added, or changed when `editing` (the table then holds stored settings
    /// besides the options given).
    @discardableResult
    static func save(
        _ table: [String: ConfigValue], name: String, options: RegistrationOptions,
        globals: GlobalOptions, editing: Bool, report: ChangeReport
    ) throws -> Registration {
        let locations = globals.locations
        let (parsed, read) = ConfigCodec.readRegistration(
            table, name: name, file: "command line", configDirectory: locations.configDirectory)
        let problems = read + (parsed.map { DaylightSaving.warnings($0.schedule, file: "command line") } ?? [])
        let translated =
            editing
            ? CommandLineFields.translate(
                problems, given: options.givenFields, storedFile: locations.display(locations.registrationFile(name)))
            : problems.map(CommandLineFields.translate)
        guard let registration = parsed else {
            throw CLIError.configuration(translated.filter { $0.severity == .error })
        }
        for warning in translated where warning.severity == .warning { report.warn(warning) }

        let secrets = globals.secrets
        let supplied = try options.suppliedSecret()
        try S3RegistrationOptions.checkSecret(registration, supplied: supplied, options: options)
        if case .s3(let target) = registration.provider, target.settings.usesInstanceCredentials {
            // The instance's role instead of a key: no secret is needed, and none is kept (below).
        } else if case .s3 = registration.provider {
            if let supplied {
                do {
                    try secrets.store(try secrets.resolve(supplied: supplied, for: name), for: name)
                } catch let error as SecretError {
                    throw CLIError.commandLine(
                        error.message, field: options.secretKeyStdin ? "--secret-key-stdin" : "--secret-key-file",
                        message: error.message)
                }
            } else if secrets.secret(for: name) == nil {
                throw CLIError.configuration([
                    ConfigProblem(
                        file: "command line", field: "--secret-key-stdin",
                        message: "an s3 registration needs its secret key",
                        fix: "pipe it in with --secret-key-stdin, or name a root-only file with --secret-key-file")
                ])
            }
        } else if supplied != nil {
            throw CLIError.configuration([
                ConfigProblem(
                    file: "command line", field: "--secret-key-stdin",
                    message: "only s3 registrations have a secret key", fix: "leave it out")
            ])
        }
        try globals.store.save(registration)
        if case .filesystem(let target) = registration.provider {
            // Registrations of the filesystem provider keep no secret.
            try secrets.remove(for: name)
            BackupDirectorySetup.prepareForService(target.resolvedPath, globals: globals, note: report.note)
        }
        if case .s3(let target) = registration.provider, target.settings.usesInstanceCredentials {
            // Never both a stored secret and the instance's role.
            try secrets.remove(for: name)
        }
        S3RegistrationOptions.warnAboutRetention(
            registration, globals: globals, given: options.givenFields, editing: editing)
        report.done(
            """
            \(editing ? "changed" : "added") registration \(name): \(registration.schedule.summary), to \
            \(describe(registration.provider))
            """,
            [
                "registration": .table(
                    ConfigDocument.render(registration, secrets: globals.secrets, resolvedPath: true))
            ])
        return registration
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a registration: a named backup job with a provider and a schedule.",
            discussion: """
                Examples:
                  dbbackup registration add premigrate --provider filesystem --path /var/backups/app \\
                      --schedule migration
                  dbbackup registration add nightly --provider s3 --bucket app-backups \\
                      --endpoint http://127.0.0.1:9000 --force-path-style --access-key AGENT \\
                      --secret-key-stdin --schedule daily --time 02:00 < secret.txt
                """)

        @OptionGroup var globals: GlobalOptions
        @Argument(help: "Registration name: \(RegistrationName.rule).") var name: String
        @OptionGroup var options: RegistrationOptions
        @Flag(
            help:
                """
                Print the outcome as one JSON object on stdout: ok, message and warnings, or the problems, each \
                by field.
                """
        )
        var json = false

        func run() throws {
            try reportingChange(json: json) { report in
                if let problem = RegistrationName.problem(name) {
                    throw CLIError.configuration([
                        ConfigProblem(
                            file: "command line", field: "NAME", value: "\"\(name)\"", message: problem,
                            fix: "use \(RegistrationName.rule)")
                    ])
                }
                let store = globals.store
                if store.registrationExists(name) {
                    throw CLIError.commandLine(
                        """
                        registration \(name) already exists (\(store.locations.registrationFile(name))); change \
                        it with: dbbackup registration edit \(name)
                        """,
                        field: "NAME", value: "\"\(name)\"", message: "a registration of this name already exists",
                        fix: "choose another name, or change it with: dbbackup registration edit \(name)")
                }
                var missing: [ConfigProblem] = []
                if options.provider == nil {
                    missing.append(
                        ConfigProblem(
                            file: "command line", field: "--provider", message: "is required",
                            fix: "give --provider filesystem or --provider s3"))
                }
                if options.schedule == nil {
                    missing.append(
                        ConfigProblem(
                            file: "command line", field: "--schedule", message: "is required",
                            fix: "give --schedule migration|daily|weekly|monthly"))
                }
                if !missing.isEmpty { throw CLIError.configuration(missing) }
                try RegistrationCommand.save(
                    options.apply(to: [:]), name: name, options: options,
                    globals: globals, editing: false, report: report)
                Activation.applyAfterChange(globals, json: report)
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "edit", abstract: "Change a registration; options not given keep their values.")

        @OptionGroup var globals: GlobalOptions
        @Argument(help: "Registration name.") var name: String
        @OptionGroup var options: RegistrationOptions
        @Flag(help: "Machine-readable outcome on stdout, as for add.") var json = false

        func run() throws {
            try reportingChange(json: json) { report in
                let store = globals.store
                let existing = try store.registration(named: name)
                let base = ConfigCodec.renderRegistration(existing)
                let registration = try RegistrationCommand.save(
                    options.apply(to: base), name: name, options: options,
                    globals: globals, editing: true, report: report)
                if case .s3(let before) = existing.provider, case .s3(let after) = registration.provider,
                    before.accessKey != after.accessKey, !after.settings.usesInstanceCredentials,
                    !options.secretKeyStdin, options.secretKeyFile == nil
                {
                    Output.stderr(
                        """
                        warning: the stored secret key is kept for the new access key \(after.accessKey); if it \
                        belonged to \(before.accessKey), give the new one with --secret-key-stdin or \
                        --secret-key-file
                        """
                    )
                }
                Activation.applyAfterChange(globals, json: report)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a registration. Its backups and their registry records are kept.")

        @OptionGroup var globals: GlobalOptions
        @Argument(help: "Registration name.") var name: String
        @Flag(help: "Machine-readable outcome on stdout, as for add.") var json = false

        func run() throws {
            try reportingChange(json: json) { report in
                let store = globals.store
                if let problem = RegistrationName.problem(name) {
                    throw CLIError.configuration([
                        ConfigProblem(file: "command line", field: "NAME", value: "\"\(name)\"", message: problem)
                    ])
                }
                guard store.registrationExists(name) else {
                    throw CLIError.commandLine(
                        "there is no registration \(name); see: dbbackup registration list", field: "NAME",
                        value: "\"\(name)\"", message: "there is no registration of this name",
                        fix: "see: dbbackup registration list")
                }
                try store.remove(name)
                try globals.secrets.remove(for: name)
                report.done("removed registration \(name); its backups are kept (see: dbbackup list \(name))")
                Activation.applyAfterChange(globals, json: report)
                // The timer's last-run stamp goes too: a later registration of this name would
                // otherwise inherit it, and Persistent=true would start a catch-up run at once.
                // Only for the configuration systemd's generator reads.
                if globals.locations.configDirectory == Locations.defaultConfigDirectory {
                    try? FileSystem.unlinkIfPresent("/var/lib/systemd/timers/stamp-\(UnitGenerator.timerUnit(name))")
                }
            }
        }
    }

    struct ListRegistrations: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List registrations.")

        @OptionGroup var globals: GlobalOptions
        @Flag(help: "Machine-readable output.") var json = false

        func run() throws {
            do {
                let loaded = globals.store.load()
                let secrets = globals.secrets
                for problem in loaded.problems where problem.field == nil || problem.severity == .error {
                    if problem.file.hasPrefix("registrations.d/") { Output.stderr(problem.description) }
                }
                if json {
                    Output.json(
                        .array(
                            loaded.registrations.map {
                                .table(ConfigDocument.render($0, secrets: secrets, resolvedPath: true))
                            }))
                    return
                }
                if loaded.registrations.isEmpty {
                    print(
                        """
                        no registrations; add one with: dbbackup registration add NAME --provider filesystem \
                        --path DIR --schedule migration
                        """
                    )
                    return
                }
                Output.table(
                    ["NAME", "PROVIDER", "SCHEDULE", "DESTINATION"],
                    loaded.registrations.map {
                        [$0.name, $0.provider.kind, $0.schedule.summary, describe($0.provider)]
                    })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Show one registration (the secret key only masked).")

        @OptionGroup var globals: GlobalOptions
        @Argument(help: "Registration name.") var name: String
        @Flag(help: "Machine-readable output.") var json = false

        func run() throws {
            do {
                let registration = try globals.store.registration(named: name)
                let table = ConfigDocument.render(registration, secrets: globals.secrets, resolvedPath: true)
                if json {
                    Output.json(.table(table))
                    return
                }
                print("name: \(registration.name)")
                print("provider: \(registration.provider.kind)")
                switch registration.provider {
                case .filesystem(let target):
                    print(
                        "path: \(target.path)\(target.path == target.resolvedPath ? "" : " (\(target.resolvedPath))")")
                case .s3(let target):
                    print("bucket: \(target.bucket)")
                    print("endpoint: \(target.endpoint.isEmpty ? "(AWS)" : target.endpoint)")
                    print("region: \(target.region.isEmpty ? "(default)" : target.region)")
                    print("force_path_style: \(target.forcePathStyle)")
                    print("prefix: \(target.prefix)")
                    if target.settings.usesInstanceCredentials {
                        print("credentials: instance (the instance's IAM role, via IMDSv2)")
                    } else {
                        print("access_key: \(target.accessKey)")
                        print(
                            "secret_key: \(globals.secrets.secret(for: name).map(SecretFiles.mask) ?? "(none stored)")")
                    }
                    print(
                        "server_side_encryption: \(target.settings.serverSideEncryption ?? "(the bucket's default)")"
                            + (target.settings.kmsKeyID.map { ", kms_key_id: \($0)" } ?? ""))
                    print("storage_class: \(target.settings.storageClass ?? "(the store's default, STANDARD)")")
                }
                print("schedule: \(registration.schedule.summary)")
                printEncoding(registration.encoding)
                print("file: \(globals.locations.registrationFile(name))")
            }
        }
    }
}

func describe(_ provider: Registration.Provider) -> String {
    switch provider {
    case .filesystem(let target): target.resolvedPath
    case .s3(let target):
        "s3://\(target.bucket)/\(target.prefix)" + (target.endpoint.isEmpty ? "" : " at \(target.endpoint)")
    }
}

/// `registration show`'s lines about compression and encryption: every public key backups
/// are encrypted to, those read from the recipients file too (no private key is ever here).
func printEncoding(_ encoding: EncodingSettings) {
    if case .zstd(let level) = encoding.compression {
        print("compression: zstd, level \(level)")
    } else {
        print("compression: none")
    }
    if let encryption = encoding.encryption {
        print("encryption: age, to \(encryption.allRecipients.count) recipient(s)")
        for recipient in encryption.recipients { print("  recipient: \(recipient)") }
        if let file = encryption.recipientsFile {
            print(
                """
                  recipients_file: \
                \(file)\(encryption.resolvedRecipientsFile.map { $0 == file ? "" : " (\($0))" } ?? "")
                """
            )
            for recipient in encryption.fileRecipients { print("    recipient: \(recipient)") }
        }
    } else {
        print("encryption: none")
    }
    print("file names end: \(encoding.fileSuffix)")
}

import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc

struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "How many backups each registration keeps (local 0-15, remote 0 or more; 0 = no automatic cleanup).",
        subcommands: [Show.self, Set.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the retention limits.")
        @OptionGroup var globals: GlobalOptions
        @Flag(help: "Machine-readable output.") var json = false

        func run() throws {
            do {
                let retention = try globals.store.loadMain().retention
                if json {
                    let remote: ConfigValue =
                        switch retention.remote {
                        case .count(let count): .integer(count)
                        case .unlimited: .string("unlimited")
                        }
                    Output.json(.table(["local": .integer(retention.local), "remote": remote]))
                    return
                }
                let local = retention.local == 0 ? " (no automatic cleanup)" : " backups per filesystem registration"
                print("local: \(retention.local)\(local)")
                let remote = retention.remote.keep == nil ? " (no automatic cleanup)" : " backups per s3 registration"
                print("remote: \(retention.remote)\(remote)")
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change the retention limits.")
        @OptionGroup var globals: GlobalOptions

        // .unconditional: a negative number is a value to refuse with its range, not an option.
        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Backups kept per filesystem registration, 0-15 (0 = no automatic cleanup).", valueName: "N"))
        var local: Int?

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Backups kept per s3 registration: a number, or unlimited (0 = no automatic cleanup).",
                valueName: "N|unlimited"))
        var remote: String?

        @Flag(help: "Machine-readable outcome on stdout, as for registration add.") var json = false

        func validate() throws {
            if local == nil && remote == nil { throw ValidationError("give --local N and/or --remote N|unlimited") }
        }

        func run() throws {
            try reportingChange(json: json) { report in
                let store = globals.store
                // The file as written, so a value this command sets may repair an invalid one.
                guard var table = try store.mainTable() else {
                    _ = try store.loadMain()
                    return
                }
                var retention: [String: ConfigValue] =
                    if case .table(let current)? = table["retention"] { current } else { [:] }
                if let local { retention["local"] = .integer(local) }
                if let remote, let count = Int(remote), count < 0 {
                    retention["remote"] = .integer(count)  // refused below, with the range
                } else if let remote {
                    guard let limit = Retention.RemoteLimit.parse(remote) else {
                        throw CLIError.configuration([
                            ConfigProblem(
                                file: "command line", field: "--remote", value: remote,
                                message: "is not a number of backups", fix: "give a number (0 or more) or unlimited")
                        ])
                    }
                    retention["remote"] =
                        switch limit {
                        case .count(let count): .integer(count)
                        case .unlimited: .string("unlimited")
                        }
                }
                table["retention"] = .table(retention)
                let locations = globals.locations
                let (config, problems) = ConfigCodec.readMain(
                    table, file: locations.display(locations.mainFile), configDirectory: locations.configDirectory)
                let given = Swift.Set(
                    [local.map { _ in "retention.local" }, remote.map { _ in "retention.remote" }].compactMap { $0 })
                let renamed = CommandLineFields.translate(
                    problems, given: given, storedFile: locations.display(locations.mainFile))
                guard let config else { throw CLIError.configuration(renamed.filter { $0.severity == .error }) }
                try store.saveMain(config)
                for warning in renamed where warning.severity == .warning { report.warn(warning) }
                for registration in store.load().registrations {
                    if let warning = S3Settings.retentionWarning(
                        registration, retention: config.retention,
                        file: locations.display(locations.registrationFile(registration.name)))
                    {
                        report.warn(warning)
                    }
                }
                let remote: ConfigValue =
                    switch config.retention.remote {
                    case .count(let count): .integer(count)
                    case .unlimited: .string("unlimited")
                    }
                report.done(
                    "retention: local \(config.retention.local), remote \(config.retention.remote)",
                    ["local": .integer(config.retention.local), "remote": remote])
                Activation.applyAfterChange(globals, json: report)
            }
        }
    }
}

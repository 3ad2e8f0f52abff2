import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Repair the registry of backups: rebuild it from the stores, forget a backup.",
        subcommands: [Rebuild.self, Forget.self])

    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild",
            abstract:
                """
                Record the backups found in the registrations' stores that the registry does not know (after it \
                was lost or damaged).
                """,
            discussion: """
                Filesystem registrations: every file of their directory named as dbbackup names backups \
                (db_v…), with its SHA-256 computed now and its schema version and time read from its \
                name. S3 registrations: every object under their prefix, with the SHA-256, version, \
                trigger and time dbbackup stored as its metadata; this needs a key that may list and \
                read the bucket (--access-key with --secret-key-stdin). Backups found are recorded \
                as older than every backup the registry already holds. Nothing is deleted or changed \
                in any store.
                """)

        @OptionGroup var globals: GlobalOptions
        @Option(help: "Only this registration.") var registration: String?
        @OptionGroup var readKey: ReadKeyOptions

        func run() throws {
            do {
                let loaded = globals.store.load()
                for problem in loaded.errors { Output.stderr("skipped: \(problem.description)") }
                var registrations = loaded.registrations
                if let registration {
                    registrations = [try globals.store.registration(named: registration)]
                }
                let registry = try BackupRegistry(path: globals.locations.registryPath)
                if let warning = registry.recovery?.warning { Output.stderr("note: \(warning)") }
                let rebuild = RegistryRebuild(registry: registry)
                var total = 0
                var unreached: [String] = []
                // Read once: one reader key serves every s3 registration given.
                let suppliedSecret = try readKey.secret()
                for registration in registrations {
                    switch registration.provider {
                    case .filesystem(let target):
                        let others = loaded.registrations.filter { other in
                            guard other.name != registration.name, case .filesystem(let theirs) = other.provider else {
                                return false
                            }
                            return theirs.resolvedPath == target.resolvedPath
                        }.map(\.name)
                        let outcome = try rebuild.rebuild(
                            registration, directory: target.resolvedPath, sharedWith: others)
                        report(outcome, in: target.resolvedPath)
                        total += outcome.recorded.count
                    case .s3(var target):
                        let others = loaded.registrations.filter { other in
                            guard other.name != registration.name, case .s3(let theirs) = other.provider else {
                                return false
                            }
                            return theirs.bucket == target.bucket && theirs.endpoint == target.endpoint
                                && theirs.keyPrefix == target.keyPrefix
                        }.map(\.name)
                        var secret = globals.secrets.secret(for: registration.name) ?? ""
                        if let accessKey = readKey.accessKey {
                            target.accessKey = accessKey
                            target.settings.credentials = .secret  // the key given, not the instance role
                            secret = suppliedSecret ?? ""
                        }
                        let staging = globals.locations.stagingDirectory
                        try FileSystem.makeDirectories(staging, mode: 0o700)
                        do {
                            let outcome = try rebuild.rebuild(
                                registration, target: target, secret: secret,
                                transfer: (try? globals.store.loadMain().s3) ?? S3Transfer(),
                                scratch: staging, sharedWith: others)
                            report(outcome, in: "s3://\(target.bucket)/\(target.keyPrefix)")
                            total += outcome.recorded.count
                        } catch {
                            unreached.append("\(registration.name): \(error)")
                        }
                    }
                }
                print("registry rebuild: \(total) backup(s) recorded")
                if !unreached.isEmpty {
                    throw CLIError(
                        "not rebuilt: " + unreached.joined(separator: "; ")
                            + """
                             (a bucket is read with a key that may list and read it: --access-key KEY \
                            --secret-key-stdin)
                            """
                    )
                }
            }
        }

        private func report(_ outcome: RegistryRebuild.Outcome, in directory: String) {
            print("\(outcome.registration): \(outcome.recorded.count) backup(s) found in \(directory) and recorded")
            for record in outcome.recorded {
                print(
                    """
                      \(record.id)  \(record.createdAt.rfc3339)  schema version \(record.version ?? "?")  \
                    \(record.location?.description ?? "")
                    """
                )
            }
            for (name, reason) in outcome.skipped { Output.stderr("  skipped \(name): \(reason)") }
            for record in outcome.suspect {
                print(
                    """
                      \(record.id) is suspect: \(record.suspect ?? ""); retention keeps the good backups before it \
                    until it is confirmed (dbbackup confirm \(record.id))
                    """
                )
            }
        }
    }

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget",
            abstract:
                """
                Take a backup out of the registry without touching its file or object (e.g. one you deleted by \
                hand, or keep elsewhere on purpose).
                """,
            discussion:
                "Retention then no longer counts it or tries to delete it, and list and restore no longer show it.")

        @OptionGroup var globals: GlobalOptions
        @Argument(help: ArgumentHelp("The backup's id (see `dbbackup list`).", valueName: "ID")) var id: Int64

        func run() throws {
            do {
                let registry = try BackupRegistry(path: globals.locations.registryPath)
                guard let record = try registry.backup(id: id), record.state != .pruned else {
                    throw CLIError(
                        "there is no backup with id \(id) in the registry (or it is already gone); see: dbbackup list")
                }
                try registry.forget(id)
                print(
                    """
                    forgot backup \(id) (\(record.registration), \
                    \(record.location?.description ?? "no location")); its file or object was not touched
                    """
                )
            }
        }
    }
}

import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemdSupport

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            """
            Per registration: schedule, next run (from systemd), last success and last failure (from the \
            registry), backups kept, service unit.
            """
    )

    @OptionGroup var globals: GlobalOptions
    @Flag(help: "Machine-readable output.") var json = false
    @Flag(
        help:
            """
            One verdict for monitoring: exit status 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, a summary line with \
            perfdata (with --json: status, summary, problems, registrations).
            """
    )
    var check = false

    func run() throws {
        if check { return try StatusCheck.run(globals, json: json) }
        do {
            let loaded = globals.store.load()
            for problem in loaded.errors { Output.stderr(problem.description) }
            let registry = try BackupRegistry(path: globals.locations.registryPath)
            if let warning = registry.recovery?.warning { Output.stderr("warning: \(warning)") }
            let next = Activation.nextElapses()
            var rows: [ConfigValue] = []
            var lines: [[String]] = []
            var attention: [String] = []  // lines a person should act on
            for registration in loaded.registrations {
                let timer = registration.schedule.kind == .migration ? nil : UnitGenerator.timerUnit(registration.name)
                let nextRun = timer.flatMap { next[$0] }
                let success = try registry.lastSuccess(of: registration.name)
                let failure = try registry.lastRun(of: registration.name, state: .failed)
                let kept = try registry.storedBackups(registration: registration.name)
                let bytes = kept.reduce(Int64(0)) { $0 + ($1.size ?? 0) }
                let suspects = kept.filter(\.isUnconfirmedSuspect)
                var untracked: [String] = []
                if case .filesystem(let target) = registration.provider {
                    untracked = UntrackedBackups.files(in: target.resolvedPath, registry: registry)
                }
                rows.append(
                    .table([
                        "name": .string(registration.name),
                        "provider": .string(registration.provider.kind),
                        "schedule": .table(ConfigCodec.renderSchedule(registration.schedule)),
                        "schedule_summary": .string(registration.schedule.summary),
                        "service": .string(UnitGenerator.serviceUnit(registration.name)),
                        "timer": .optional(timer),
                        "next_run": .optional(nextRun?.rfc3339),
                        "backups_kept": .integer(kept.count),
                        "bytes_kept": .integer(Int(bytes)),
                        "last_success": success.map {
                            .table([
                                "id": .integer(Int($0.id)), "created_at": .string($0.createdAt.rfc3339),
                                "location": .string($0.location?.description ?? ""),
                            ])
                        } ?? .null,
                        "last_failure": failure.map {
                            .table(["at": .string($0.startedAt.rfc3339), "error": .string($0.error ?? "")])
                        } ?? .null,
                        "suspect_backups": .array(
                            suspects.map {
                                .table([
                                    "id": .integer(Int($0.id)), "created_at": .string($0.createdAt.rfc3339),
                                    "reason": .string($0.suspect ?? ""),
                                ])
                            }),
                        "untracked_backups": .integer(untracked.count),
                    ]))
                let nextText =
                    nextRun?.rfc3339
                    ?? (timer == nil ? "on migration" : (Systemctl.isBooted ? "not scheduled (dbbackup apply)" : "-"))
                lines.append([
                    registration.name, registration.schedule.summary, nextText, success?.createdAt.rfc3339 ?? "never",
                    failure?.startedAt.rfc3339 ?? "-", "\(kept.count) (\(Output.size(bytes)))",
                    UnitGenerator.serviceUnit(registration.name),
                ])
                if let failure, success.map({ failure.sequence > $0.sequence }) ?? true {
                    attention.append("\(registration.name): last run failed: \(failure.error ?? "")")
                }
                for suspect in suspects {
                    attention.append(
                        """
                        \(registration.name): backup \(suspect.id) (\(suspect.createdAt.rfc3339)) is suspect: \
                        \(suspect.suspect ?? ""); if that is right: dbbackup confirm \(suspect.id)
                        """
                    )
                }
                if !untracked.isEmpty {
                    attention.append(
                        """
                        \(registration.name): \(untracked.count) backup file(s) in its directory are not in the \
                        registry; to recover them: dbbackup registry rebuild --registration \(registration.name)
                        """
                    )
                }
            }
            if json {
                Output.json(.array(rows))
                return
            }
            // What systemd's generator reported where it had no kernel log to report to.
            defer {
                GeneratorReport.summary(runtimeDirectory: globals.locations.runtimeDirectory)?.forEach { print($0) }
            }
            if rows.isEmpty {
                print("no registrations")
                return
            }
            // The service's name, escaped as systemctl wants it (`systemctl start` runs it now).
            Output.table(["NAME", "SCHEDULE", "NEXT RUN", "LAST SUCCESS", "LAST FAILURE", "KEPT", "SERVICE"], lines)
            for line in attention { print(line) }
        }
    }
}

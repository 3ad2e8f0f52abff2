import ArgumentParser
import BackupCore
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per registration: schedule, next run (from systemd), last success and last failure (from the registry), backups kept.")

    @OptionGroup var globals: GlobalOptions
    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        try reportingErrors {
            let loaded = globals.store.load()
            for problem in loaded.errors { Output.stderr(problem.description) }
            let registry = try Registry(path: globals.locations.registryPath)
            let next = Systemd.nextElapses()
            var rows: [[String: Any]] = []
            for registration in loaded.registrations {
                let timer = registration.schedule.kind == .migration ? nil : UnitGenerator.timerUnit(registration.name)
                let success = try registry.lastSuccess(of: registration.name)
                let failure = try registry.lastRun(of: registration.name, state: .failed)
                let kept = try registry.storedBackups(registration: registration.name)
                var row: [String: Any] = [
                    "name": registration.name,
                    "provider": registration.provider.kind,
                    "schedule": ConfigValue.table(ConfigCodec.renderSchedule(registration.schedule)).jsonObject,
                    "schedule_summary": registration.schedule.summary,
                    "service": UnitGenerator.serviceUnit(registration.name),
                    "timer": timer ?? NSNull(),
                    "next_run": timer.flatMap { next[$0]?.rfc3339 } ?? NSNull(),
                    "backups_kept": kept.count,
                    "bytes_kept": kept.reduce(Int64(0)) { $0 + ($1.size ?? 0) },
                ]
                row["last_success"] = success.map { ["id": $0.id, "created_at": $0.createdAt.rfc3339, "location": $0.location?.description ?? ""] as [String: Any] } ?? NSNull()
                row["last_failure"] = failure.map { ["at": $0.startedAt.rfc3339, "error": $0.error ?? ""] as [String: Any] } ?? NSNull()
                rows.append(row)
            }
            if json {
                try Output.json(rows)
                return
            }
            if rows.isEmpty {
                print("no registrations")
                return
            }
            Output.table(["NAME", "SCHEDULE", "NEXT RUN", "LAST SUCCESS", "LAST FAILURE", "KEPT"], rows.map { row in
                let success = (row["last_success"] as? [String: Any])?["created_at"] as? String ?? "never"
                let failure = (row["last_failure"] as? [String: Any])?["at"] as? String ?? "-"
                let nextRun = row["next_run"] as? String ?? (row["timer"] is NSNull ? "on migration" : (Systemd.isRunning ? "not scheduled (dbbackup apply)" : "-"))
                return [row["name"] as! String, row["schedule_summary"] as! String, nextRun, success, failure,
                        "\(row["backups_kept"]!) (\(Output.size(row["bytes_kept"] as! Int64)))"]
            })
            for row in rows {
                guard let failure = row["last_failure"] as? [String: Any] else { continue }
                let success = row["last_success"] as? [String: Any]
                if (failure["at"] as? String ?? "") >= (success?["created_at"] as? String ?? "") {
                    print("\(row["name"]!): last run failed: \(failure["error"] ?? "")")
                }
            }
        }
    }
}

import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

/// Making a changed configuration take effect: the directories and identity the services
/// need, then systemd's units reloaded and the timers restarted (through `Systemctl`).
enum Activation {
    static let applyCommands = "systemctl daemon-reload && systemctl restart dbbackup.target"

    /// The timer units the configuration asks for.
    static func scheduledTimers(_ config: LoadedConfig) -> Set<String> {
        Set(config.registrations.filter { $0.schedule.kind != .migration }.map { UnitGenerator.timerUnit($0.name) })
    }

    /// Reloads units (the generator runs again) and restarts dbbackup.target, so the timers
    /// follow the configuration at once: timers of removed registrations are stopped (their
    /// unit files are gone, so PartOf= no longer ties them to the target), the target's stop
    /// and start restart the current ones with their new schedules.
    static func apply(keeping timers: Set<String>) throws {
        try run(["daemon-reload"])
        let loaded = try Systemctl.run("list-units", "--all", "--plain", "--no-legend", "--type=timer", "dbbackup@*")
        let stale = loaded.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { !timers.contains($0) }
        if !stale.isEmpty {
            try run(["stop"] + stale)
            // A timer whose unit file vanished ends "failed"; forget it, as it no longer exists.
            _ = try? Systemctl.run(["reset-failed"] + stale)
        }
        try run(["stop", "dbbackup.target"])
        try run(["start", "dbbackup.target"])
    }

    private static func run(_ arguments: [String]) throws {
        let result = try Systemctl.run(arguments)
        guard result.status == 0 else {
            throw CLIError("systemctl \(arguments.joined(separator: " ")) failed: \(result.stderr.trimmed)")
        }
    }

    /// After a configuration change, as the last thing a command does: apply it when systemd
    /// runs here and this user may, otherwise say in the last line exactly what to run.
    /// `json`: a `--json` verb's report, which keeps these lines as notes of its one JSON
    /// object instead of printing them.
    static func applyAfterChange(_ globals: GlobalOptions, json report: ChangeReport? = nil) {
        let jsonNote = report.flatMap { $0.json ? $0.note : nil }
        let say: (String) -> Void = jsonNote ?? { print($0) }
        let tell: (String) -> Void = jsonNote ?? { Output.stderr($0) }
        let locations = globals.locations
        guard Systemctl.isBooted else {
            tell("note: systemd is not running here; where it runs, make the change take effect with: dbbackup apply")
            return
        }
        guard locations.configDirectory == Locations.defaultConfigDirectory else {
            tell(
                """
                note: systemd's generator reads \(Locations.defaultConfigDirectory), not \
                \(locations.configDirectory), so no timer follows this configuration; run its backups with: \
                dbbackup --config-dir \(locations.configDirectory) run NAME
                """
            )
            return
        }
        guard geteuid() == 0 else {
            tell("note: saved, but systemd does not follow it yet; as root, run: dbbackup apply")
            return
        }
        do {
            let loaded = globals.store.load()
            prepareDirectories(loaded, globals: globals, say: say)
            try apply(keeping: scheduledTimers(loaded))
            say("applied: systemd reloaded the units and restarted dbbackup.target")
        } catch {
            tell("warning: the configuration was saved, but applying it failed: \(error); run: dbbackup apply")
        }
    }

    /// As root, before the units are reloaded: the database's owner recorded for the generator
    /// (which at boot runs before the database's file system is mounted), and every missing
    /// filesystem backup directory, created for the identity the services will run as.
    static func prepareDirectories(
        _ loaded: LoadedConfig, globals: GlobalOptions, say: (String) -> Void = { print($0) }
    ) {
        guard geteuid() == 0 else { return }
        recordIdentity(loaded, globals: globals)
        guard let identity = BackupDirectories.serviceIdentity(database: loaded.main?.database.resolvedPath) else {
            return
        }
        for registration in loaded.registrations {
            guard case .filesystem(let target) = registration.provider else { continue }
            BackupDirectorySetup.prepare(target.resolvedPath, for: identity, report: say)
        }
    }

    /// Records the database's owner for the generator (`ServiceIdentity.record`), as root.
    static func recordIdentity(_ loaded: LoadedConfig, globals: GlobalOptions) {
        guard geteuid() == 0, let database = loaded.main?.database.resolvedPath,
            case .success(let identity) = ServiceIdentity.of(database: database)
        else { return }
        do {
            try identity.record(in: globals.locations.configDirectory, database: database)
        } catch {
            Output.stderr("warning: cannot record the database's owner for the generator: \(error)")
        }
    }

    /// Next elapse of every dbbackup timer, by unit name.
    static func nextElapses() -> [String: Timestamp] {
        Systemctl.nextElapses(of: "dbbackup@*").mapValues { Timestamp(millisecondsSinceEpoch: $0 / 1000) }
    }
}

import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

/// The few things the command line asks of a running systemd, through systemctl.
enum Systemd {
    /// sd_booted(3): the system was booted with systemd as PID 1.
    static var isRunning: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }

    static let systemctlPath = ["/usr/bin/systemctl", "/bin/systemctl"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/systemctl"

    @discardableResult
    static func systemctl(_ arguments: String...) throws -> Subprocess.Result {
        try systemctl(arguments)
    }

    static func systemctl(_ arguments: [String]) throws -> Subprocess.Result {
        try Subprocess.run(systemctlPath, ["--no-pager"] + arguments)
    }

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
        let loaded = try systemctl("list-units", "--all", "--plain", "--no-legend", "--type=timer", "dbbackup@*")
        let stale = loaded.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { !timers.contains($0) }
        if !stale.isEmpty {
            try run(["stop"] + stale)
            // A timer whose unit file vanished ends "failed"; forget it, as it no longer exists.
            _ = try? systemctl(["reset-failed"] + stale)
        }
        try run(["stop", "dbbackup.target"])
        try run(["start", "dbbackup.target"])
    }

    private static func run(_ arguments: [String]) throws {
        let result = try systemctl(arguments)
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
        guard isRunning else {
            tell("note: systemd is not running here; where it runs, make the change take effect with: dbbackup apply")
            return
        }
        guard locations.configDirectory == Locations.defaultConfigDirectory else {
            tell("note: systemd's generator reads \(Locations.defaultConfigDirectory), not \(locations.configDirectory), so no timer follows this configuration; run its backups with: dbbackup --config-dir \(locations.configDirectory) run NAME")
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
    static func prepareDirectories(_ loaded: LoadedConfig, globals: GlobalOptions, say: (String) -> Void = { print($0) }) {
        guard geteuid() == 0 else { return }
        recordIdentity(loaded, globals: globals)
        guard let identity = BackupDirectories.serviceIdentity(database: loaded.main?.database.resolvedPath) else { return }
        for registration in loaded.registrations {
            guard case .filesystem(let target) = registration.provider else { continue }
            BackupDirectorySetup.prepare(target.resolvedPath, for: identity, report: say)
        }
    }

    /// Records the database's owner for the generator (`ServiceIdentity.record`), as root.
    static func recordIdentity(_ loaded: LoadedConfig, globals: GlobalOptions) {
        guard geteuid() == 0, let database = loaded.main?.database.resolvedPath,
              case .success(let identity) = ServiceIdentity.of(database: database) else { return }
        do {
            try identity.record(in: globals.locations.configDirectory, database: database)
        } catch {
            Output.stderr("warning: cannot record the database's owner for the generator: \(error)")
        }
    }

    /// Next elapse of every timer, by unit name, from `systemctl list-timers --output=json`.
    static func nextElapses() -> [String: Timestamp] {
        struct Timer: Decodable {
            let unit: String
            let next: Int64?
        }
        guard isRunning, let result = try? systemctl("list-timers", "--all", "--output=json", "dbbackup@*"), result.status == 0,
              let timers = try? JSONDecoder().decode([Timer].self, from: Data(result.stdout.utf8)) else { return [:] }
        var next: [String: Timestamp] = [:]
        for timer in timers {
            guard let usec = timer.next, usec > 0 else { continue }
            next[timer.unit] = Timestamp(millisecondsSinceEpoch: usec / 1000)
        }
        return next
    }
}

/// Durations as deploy scripts write them: `90`, `90s`, `5m`, `1h30m`, `500ms`.
enum DurationParser {
    static func seconds(_ text: String) -> Double? {
        if let plain = Double(text), plain >= 0 { return plain }
        var total = 0.0
        var number = ""
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while let character = rest.first {
            if character.isNumber || character == "." {
                number.append(character)
                rest = rest.dropFirst()
                continue
            }
            let unit = String(rest.prefix { $0.isLetter })
            rest = rest.dropFirst(unit.count)
            guard let value = Double(number) else { return nil }
            switch unit {
            case "ms": total += value / 1000
            case "s", "sec": total += value
            case "m", "min": total += value * 60
            case "h": total += value * 3600
            default: return nil
            }
            number = ""
        }
        return number.isEmpty ? total : nil
    }
}

import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

/// `dbbackup status --check [--json]`: one verdict for monitoring (Nagios, Icinga, Zabbix,
/// Cockpit), with the plugin convention's exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
///
/// root reads the registry; a monitoring user reads the status file every run writes
/// (`/var/lib/dbbackup-monitor/status.json`, group `dbbackup-monitor`), and the
/// configuration, which anyone may read. The timers come from systemd over D-Bus.
enum StatusCheck {
    static func run(_ globals: GlobalOptions, json: Bool) throws {
        let result = evaluate(globals)
        print(json ? result.value.json() : result.text)
        if result.status != .ok { throw ExitCode(result.status.rawValue) }
    }

    static func evaluate(_ globals: GlobalOptions, now: Timestamp = .now()) -> MonitorCheck.Result {
        let locations = globals.locations
        let loaded = globals.store.load()
        guard loaded.main != nil else {
            let reasons = loaded.errors.filter { !$0.file.hasPrefix("registrations.d/") }.map(\.description)
            return MonitorCheck.unknown(
                "the main configuration cannot be used: " + reasons.joined(separator: "; "), now: now)
        }
        let facts: [String: RegistrationFacts]
        let source: String
        switch gatherFacts(locations, registrations: loaded.registrations) {
        case .success(let found): (facts, source) = found
        case .failure(let reason): return MonitorCheck.unknown(reason.message, now: now)
        }
        var configuredAt: [String: Timestamp] = [:]
        for registration in loaded.registrations {
            configuredAt[registration.name] = MonitorFiles.configuredAt(registration, locations: locations)
        }
        let (systemd, systemdProblem) = systemdView()
        var result = MonitorCheck.evaluate(
            .init(
                registrations: loaded.registrations,
                unusableFiles: loaded.errors.filter { $0.file.hasPrefix("registrations.d/") },
                facts: facts, configuredAt: configuredAt, systemd: systemd,
                graceSeconds: MonitorFiles.graceSeconds(loaded), now: now, boot: .now()), source: source)
        if let systemdProblem {
            result.problems.append(MonitorCheck.Problem(registration: nil, severity: .unknown, message: systemdProblem))
            result.status = max(result.status, .unknown)
        }
        return result
    }

    struct Unreadable: Error { let message: String }

    /// The registry when this user may open it (root), else the status file the last run wrote.
    static func gatherFacts(
        _ locations: Locations, registrations: [Registration]
    ) -> Result<([String: RegistrationFacts], String), Unreadable> {
        let registryPath = locations.registryPath
        if case .missing = PathAccess.lookup(registryPath) {
            return .success(([:], "registry (no run yet)"))
        }
        if case .success = Syscalls.access(registryPath, R_OK | W_OK),
            case .success = Syscalls.access(locations.stateDirectory, W_OK | X_OK)
        {
            do {
                let snapshot = try MonitorSnapshot.collect(
                    try BackupRegistry(path: registryPath), registrations: registrations)
                return .success((snapshot.registrations, "registry"))
            } catch {
                return .failure(Unreadable(message: "cannot read the registry: \(error)"))
            }
        }
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
        switch MonitorFiles.readStatus(locations: locations) {
        case .success(let snapshot):
            return .success(
                (snapshot.registrations, "status file \(locations.statusFile) of \(snapshot.writtenAt.rfc3339)"))
        case .failure(.missing):
            return .failure(
                Unreadable(
                    message:
                        """
                        no status file yet (\(locations.statusFile)), and \(user) may not read the registry: \
                        every run writes it, so run a backup (e.g. systemctl start dbbackup@NAME.service), or \
                        check as root
                        """
                ))
        case .failure(.denied(let reason)):
            return .failure(
                Unreadable(
                    message:
                        """
                        \(user) may read neither the registry nor the status file (\(reason)); let it with: \
                        adduser \(user) dbbackup-monitor
                        """
                ))
        case .failure(.unreadable(let reason)):
            return .failure(Unreadable(message: "cannot read the status file: \(reason)"))
        }
    }

    /// Which dbbackup timers systemd has scheduled and which backups run now; nil where
    /// systemd does not run. A problem when systemd runs but cannot be asked.
    static func systemdView() -> (MonitorCheck.SystemdView?, String?) {
        guard Systemctl.isBooted else { return (nil, nil) }
        struct Unit: Decodable {
            let unit: String
            let active: String?
            let next: Int64?
        }
        func units(_ arguments: String...) -> Result<[Unit], Unreadable> {
            do {
                let result = try Systemctl.run(arguments)
                guard result.status == 0 else { return .failure(Unreadable(message: result.stderr.trimmed)) }
                return .success(try JSONDecoder().decode([Unit].self, from: Data(result.stdout.utf8)))
            } catch {
                return .failure(Unreadable(message: "\(error)"))
            }
        }
        switch (
            units("list-timers", "--all", "--output=json", "dbbackup@*"),
            units("list-units", "--all", "--type=service", "--output=json", "dbbackup@*", "dbbackup-migration.service")
        ) {
        case (.success(let timers), .success(let services)):
            return (
                MonitorCheck.SystemdView(
                    scheduledTimers: Set(timers.filter { ($0.next ?? 0) > 0 }.map(\.unit)),
                    runningServices: Set(services.filter { $0.active == "activating" }.map(\.unit))), nil
            )
        case (.failure(let error), _), (_, .failure(let error)):
            return (nil, "cannot ask systemd about the timers: \(error.message)")
        }
    }
}

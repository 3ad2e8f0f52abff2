import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

/// Runs the access checks (`dbbackup access-check`) as the services would: where systemd runs
/// and the caller is root, in a transient unit with the service's own settings (its unit file,
/// its drop-ins including administrators' overrides, and the drop-in the generator makes of
/// the configuration as it is now); as root elsewhere, as the services' identity (setpriv,
/// without capabilities); otherwise as the caller, and says so.
enum AccessProbe {
    struct Report {
        /// How the checks ran, for people: "as app (uid 1500) in the sandbox of dbbackup@.service".
        var how: [String] = []
        var findings: [AccessFinding] = []
        /// Problems with the way the checks could be run (configuration not applied, ...).
        var problems: [ConfigProblem] = []
    }

    /// Checks the database (if `database`) and the backup directory of each filesystem
    /// registration given.
    static func run(
        database: Bool, registrations: [Registration], globals: GlobalOptions, loaded: LoadedConfig
    ) -> Report {
        var report = Report()
        let directories = registrations.filter { if case .filesystem = $0.provider { true } else { false } }
        guard database || !directories.isEmpty else { return report }
        guard geteuid() == 0 else {
            report.how.append(
                """
                access checked as \(ProcessIdentity.describe(uid: geteuid())), not as the services' identity: run \
                as root to check as the services run
                """
            )
            report.findings = inProcess(database: database, directories, loaded: loaded)
            return report
        }
        let locations = globals.locations
        if Systemctl.isBooted && locations.configDirectory == Locations.defaultConfigDirectory {
            report.problems += staleUnits(loaded, locations: locations)
            // Each registration is checked in the service that runs it; the database in the first.
            var groups: [(unit: String, dropIn: String, instance: String, names: [String])] = []
            let migration = directories.filter { $0.schedule.kind == .migration }.map(\.name)
            let instances = directories.filter { $0.schedule.kind != .migration }.map(\.name)
            if !instances.isEmpty || migration.isEmpty {
                let instance = instances.first ?? "check"
                groups.append(
                    (
                        "dbbackup@\(UnitGenerator.instance(instance)).service", "dbbackup@.service.d/50-dbbackup.conf",
                        instance, instances
                    ))
            }
            if !migration.isEmpty {
                groups.append(
                    ("dbbackup-migration.service", "dbbackup-migration.service.d/50-dbbackup.conf", "", migration))
            }
            let generated = UnitGenerator(locations: locations, config: loaded).files()
            var transient: [AccessFinding] = []
            var ran = true
            for (index, group) in groups.enumerated() {
                let dropIn = generated.first { $0.path == group.dropIn }?.contents
                switch inUnit(
                    group.unit, freshDropIn: dropIn, instance: group.instance, database: database && index == 0,
                    names: group.names, globals: globals)
                {
                case .success(let found):
                    transient += found
                    report.how.append(
                        "access checked in a transient unit with the identity and sandbox of \(group.unit)")
                case .failure(.notInstalled):
                    ran = false
                case .failure(.failed(let message)):
                    transient.append(
                        AccessFinding(
                            registration: group.names.count == 1 ? group.names[0] : nil,
                            field: group.names.count == 1 ? "path" : "database.path",
                            ok: false, message: message))
                }
            }
            if ran {
                report.findings = transient
                return report
            }
        }
        // Root without systemd (or without the installed units): as the identity, through setpriv.
        guard let identity = BackupDirectories.serviceIdentity(database: loaded.main?.database.resolvedPath) else {
            report.how.append("access checked as root: there is no database owner or dbbackup user to check as")
            report.findings = inProcess(database: database, directories, loaded: loaded)
            return report
        }
        report.how.append(
            "access checked as \(ProcessIdentity.describe(uid: identity.uid)), group "
                + "\(ProcessIdentity.describe(gid: identity.gid)), without capabilities "
                + "(the services' identity; systemd's sandbox is not checked"
                + (Systemctl.isBooted
                    ? " for a configuration outside \(Locations.defaultConfigDirectory))"
                    : ": systemd is not running here)")
        )
        let result = asIdentity(identity, database: database, names: directories.map(\.name), globals: globals)
        switch result {
        case .success(let found): report.findings = found
        case .failure(let failure):
            let message = if case .failed(let text) = failure { text } else { "cannot run the check" }
            report.findings = [AccessFinding(field: "database.path", ok: false, message: message)]
        }
        return report
    }

    static func inProcess(database: Bool, _ directories: [Registration], loaded: LoadedConfig) -> [AccessFinding] {
        var findings: [AccessFinding] = []
        if database, let main = loaded.main { findings += AccessChecks.database(main) }
        for registration in directories {
            guard case .filesystem(let target) = registration.provider else { continue }
            findings.append(AccessChecks.directory(registration.name, target.resolvedPath))
        }
        return findings
    }

    enum Failure: Error {
        case notInstalled
        case failed(String)
    }

    /// This binary (the checks are this version's; installed, it is /usr/bin/dbbackup).
    static var binary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func checkArguments(database: Bool, names: [String], globals: GlobalOptions) -> [String] {
        [
            "access-check", "--config-dir", globals.locations.configDirectory, "--state-dir",
            globals.locations.stateDirectory,
        ]
            + (database ? ["--database"] : []) + names.flatMap { ["--registration", $0] }
    }

    static func decode(_ result: Subprocess.Result, context: String) -> Result<[AccessFinding], Failure> {
        guard result.status == 0, let value = try? ConfigValue.parseJSON(result.stdout), let items = value.arrayValue
        else {
            let detail = (result.stderr + result.stdout).trimmed
            return .failure(
                .failed(
                    """
                    \(context) failed (exit status \
                    \(result.status)\(ExitStatus(code: result.status).map { "/\($0.systemdName)" } ?? ""))
                    """
                        + (detail.isEmpty ? "" : ": \(detail.split(separator: "\n").suffix(3).joined(separator: " "))"))
            )
        }
        return .success(items.compactMap(AccessFinding.init))
    }

    /// In a transient unit with the settings of `unit`: its unit file and drop-ins as systemd
    /// has loaded them, except that the generator's drop-in is the one made now.
    static func inUnit(
        _ unit: String, freshDropIn: String?, instance: String, database: Bool, names: [String], globals: GlobalOptions
    ) -> Result<[AccessFinding], Failure> {
        guard let shown = try? Systemctl.run("show", "-p", "FragmentPath", "-p", "DropInPaths", unit), shown.status == 0
        else { return .failure(.notInstalled) }
        var values: [String: String] = [:]
        for line in shown.stdout.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let fragment = values["FragmentPath"], !fragment.isEmpty else { return .failure(.notInstalled) }
        // The generator's own output is replaced by what it makes of the configuration now.
        let dropIns = (values["DropInPaths"] ?? "").split(separator: " ").map(String.init).filter {
            !$0.hasPrefix("/run/systemd/generator")
        }
        var assignments: [TransientCheck.Assignment] = []
        for path in [fragment] + dropIns {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            assignments += TransientCheck.assignments(String(decoding: data, as: UTF8.self))
        }
        if let freshDropIn { assignments += TransientCheck.assignments(freshDropIn) }
        let escaped = instance.isEmpty ? "" : UnitGenerator.instance(instance)
        let properties = TransientCheck.properties(assignments, instance: escaped, unescapedInstance: instance)
        let name = "dbbackup-check-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).service"
        let arguments =
            ["--wait", "--pipe", "--collect", "--quiet", "--service-type=exec", "--unit=\(name)"]
            + properties.flatMap { ["-p", $0] } + ["--", binary]
            + checkArguments(database: database, names: names, globals: globals)
        guard let result = try? Subprocess.run("/usr/bin/systemd-run", arguments) else {
            return .failure(.notInstalled)
        }
        if result.status == 217 {
            let user = properties.last { $0.hasPrefix("User=") }.map { String($0.dropFirst(5)) } ?? "?"
            return .failure(
                .failed(
                    "systemd cannot run \(unit) as User=\(user) (status 217/USER): that uid has no user entry. "
                        + """
                        Give the database's owner one (useradd), or chown the database to the application's user, \
                        then: dbbackup apply
                        """
                ))
        }
        return decode(result, context: "the check in a transient unit like \(unit)")
    }

    /// As the services' identity, without capabilities (as `CapabilityBoundingSet=` leaves
    /// even root), through setpriv (util-linux).
    static func asIdentity(
        _ identity: ServiceIdentity, database: Bool, names: [String], globals: GlobalOptions
    ) -> Result<[AccessFinding], Failure> {
        var groups: [gid_t] = []
        if let name = ProcessIdentity.userName(identity.uid) {
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, identity.gid, &list, &count) >= 0 { groups = Array(list.prefix(Int(count))) }
        }
        if let extra = identity.directoryGroup, !groups.contains(extra) { groups.append(extra) }
        let groupOption =
            groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map { String($0) }.joined(separator: ",")
        let arguments =
            [
                "--reuid=\(identity.uid)", "--regid=\(identity.gid)", groupOption, "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--", binary,
            ]
            + checkArguments(database: database, names: names, globals: globals)
        guard let result = try? Subprocess.run("/usr/bin/setpriv", arguments) else {
            return .failure(
                .failed("cannot run setpriv (util-linux) to check as \(ProcessIdentity.describe(uid: identity.uid))"))
        }
        return decode(result, context: "the check as \(ProcessIdentity.describe(uid: identity.uid))")
    }

    /// Whether systemd runs units generated from another configuration than this one: each
    /// file the generator would write now, against what it wrote at the last daemon-reload.
    static func staleUnits(_ loaded: LoadedConfig, locations: Locations) -> [ConfigProblem] {
        let output = "/run/systemd/generator"
        var differing: [String] = []
        let files = UnitGenerator(locations: locations, config: loaded).files()
        for file in files {
            let path = "\(output)/\(file.path)"
            if let target = file.linkTarget {
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != target {
                    differing.append(file.path)
                }
            } else if FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) })
                != file.contents
            {
                differing.append(file.path)
            }
        }
        let expected = Set(files.map(\.path))
        for directory in ["", "dbbackup.target.wants", "dbbackup@.service.d", "dbbackup-migration.service.d"] {
            let path = directory.isEmpty ? output : "\(output)/\(directory)"
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            where entry.hasPrefix("dbbackup") || !directory.isEmpty {
                let relative = directory.isEmpty ? entry : "\(directory)/\(entry)"
                if entry.hasSuffix(".timer") || entry.hasSuffix(".conf"), !expected.contains(relative) {
                    differing.append(relative)
                }
            }
        }
        guard !differing.isEmpty else { return [] }
        return [
            ConfigProblem(
                file: locations.display(locations.configDirectory), field: nil,
                message:
                    """
                    systemd still runs the units made from an earlier configuration (different now: \
                    \(differing.sorted().joined(separator: ", ")) in \(output))
                    """,
                fix: "run: dbbackup apply")
        ]
    }
}

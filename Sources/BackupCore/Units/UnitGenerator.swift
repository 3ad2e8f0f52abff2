import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

/// Turns the configuration into systemd units, as the generator (systemd.generator(7))
/// writes them: a `dbbackup@NAME.timer` per scheduled registration, wanted by
/// `dbbackup.target`, and drop-ins that open the sandbox of the static services to exactly
/// the paths and group each registration needs. Pure text: no IPC, no network, no registry.
public struct UnitGenerator {
    public struct File: Equatable, Sendable {
        /// Relative to the generator's output directory.
        public let path: String
        public let contents: String
        /// A symlink target instead of contents (wants-links).
        public let linkTarget: String?
    }

    public let locations: Locations
    public let config: LoadedConfig
    /// Who the services run as: the database file's owner and group, read once. nil when there
    /// is no database configured. When the database cannot be looked at (at boot, generators
    /// run before local file systems are mounted), the owner recorded when root last applied the
    /// configuration (`ServiceIdentity.record`); with no record, a failure: the static units'
    /// `User=dbbackup` stays, and a run that would create files beside the database refuses to.
    public let identity: Result<ServiceIdentity, SystemError>?
    /// The database could not be looked at; `identity` is the recorded owner.
    public let identityFromRecord: SystemError?

    public init(locations: Locations, config: LoadedConfig) {
        self.locations = locations
        self.config = config
        guard let database = config.main?.database.resolvedPath else {
            (identity, identityFromRecord) = (nil, nil)
            return
        }
        let live = ServiceIdentity.of(database: database)
        if case .failure(let error) = live,
            let recorded = ServiceIdentity.recorded(in: locations.configDirectory, database: database)
        {
            (identity, identityFromRecord) = (.success(recorded), error)
        } else {
            (identity, identityFromRecord) = (live, nil)
        }
    }

    /// What the generator logs about the services' identity, with its syslog priority: nil
    /// when it read the database's owner.
    public var identityProblem: (priority: Int, message: String)? {
        if let error = identityFromRecord, case .success(let recorded)? = identity {
            return (
                5,
                """
                cannot read the owner of the database yet (\(error)); using the owner recorded when the \
                configuration was last applied, \(recorded.environmentValue)
                """
            )
        }
        guard case .failure(let error)? = identity else { return nil }
        return (
            4,
            "cannot read the owner of the database (\(error)), ignoring: the services run as user "
                + "\(ServiceIdentity.fallbackUser) until the next daemon-reload (dbbackup apply) finds it"
        )
    }

    static let generatorName = "dbbackup-generator"

    /// The unit instance name of a registration, escaped as `systemd-escape` does.
    public static func instance(_ name: String) -> String { systemdEscape(name) }
    public static func timerUnit(_ name: String) -> String { "dbbackup@\(instance(name)).timer" }
    public static func serviceUnit(_ name: String) -> String { "dbbackup@\(instance(name)).service" }

    /// `OnCalendar=` expressions of a schedule, one per time of day.
    public static func calendarExpressions(_ schedule: Schedule) -> [String] {
        let zone = schedule.timezone.map { " \($0)" } ?? ""
        return schedule.times.map { time in
            let clock = "\(time):00"
            switch schedule.kind {
            case .migration: return ""
            case .daily: return "*-*-* \(clock)\(zone)"
            case .weekly: return "\(schedule.weekdays.map(\.systemdName).joined(separator: ",")) *-*-* \(clock)\(zone)"
            case .monthly:
                let days = schedule.days.map { $0 < 10 ? "0\($0)" : String($0) }.joined(separator: ",")
                return "*-*-\(days) \(clock)\(zone)"
            }
        }.filter { !$0.isEmpty }
    }

    public func files() -> [File] {
        var files: [File] = []
        for registration in config.registrations where registration.schedule.kind != .migration {
            let timer = Self.timerUnit(registration.name)
            files.append(File(path: timer, contents: timerUnitText(registration), linkTarget: nil))
            files.append(File(path: "dbbackup.target.wants/\(timer)", contents: "", linkTarget: "../\(timer)"))
        }
        // One drop-in for every instance: they all run as the same user, who owns every backup
        // directory anyway, so per-instance paths would add files, not protection.
        if !config.registrations.isEmpty {
            files.append(
                File(
                    path: "dbbackup@.service.d/50-dbbackup.conf",
                    contents: "# Generated by \(Self.generatorName) from \(locations.configDirectory); do not edit.\n"
                        + serviceAccess(config.registrations, migration: false),
                    linkTarget: nil))
        }
        let migration = config.registrations.filter { $0.schedule.kind == .migration }
        if !migration.isEmpty {
            files.append(
                File(
                    path: "dbbackup-migration.service.d/50-dbbackup.conf",
                    contents:
                        "# Generated by \(Self.generatorName) from \(locations.registrationsDirectory); do not edit.\n"
                        + "# Migration registrations: \(migration.map(\.name).joined(separator: ", "))\n"
                        + serviceAccess(migration, migration: true),
                    linkTarget: nil))
        }
        return files
    }

    /// A registration's timer. Written as UTF-8 bytes into one reserved buffer: the generator
    /// writes a thousand of them at boot, and building them as strings (a copy at each `+`,
    /// then again for each `append`) cost more than reading the registrations.
    private func timerUnitText(_ registration: Registration) -> String {
        let source = locations.registrationFile(registration.name)
        var text: [UInt8] = []
        text.reserveCapacity(512 + 2 * source.utf8.count)
        let add = { (piece: String) in text.append(contentsOf: piece.utf8) }
        add("# Generated by \(Self.generatorName) from ")
        add(source)
        add("; do not edit.\n# Change it with `dbbackup registration edit ")
        add(registration.name)
        add("`, then `dbbackup apply`.\n[Unit]\nDescription=dbbackup schedule of ")
        add(Self.escapeSpecifiers(registration.name))
        add(": ")
        add(Self.escapeSpecifiers(registration.schedule.summary))
        add("\nDocumentation=man:dbbackup(8)\nSourcePath=")
        add(Self.escapeSpecifiers(source))
        add("\nPartOf=dbbackup.target\n\n[Timer]\n")
        for expression in Self.calendarExpressions(registration.schedule) {
            add("OnCalendar=")
            add(expression)
            add("\n")
        }
        add("Persistent=true\n")
        return String(decoding: text, as: UTF8.self)
    }

    /// What the hardened service needs for these registrations: the database owner's identity
    /// (so that SQLite's -wal/-shm files are the application's), write access to the database's
    /// directory and to the backup directories (bound into the sandbox where `ProtectHome=` would
    /// hide them), mounts to wait for, the configuration directory if it is not the default, and
    /// for the migration service each s3 registration's secret as its own credential.
    private func serviceAccess(_ registrations: [Registration], migration: Bool) -> String {
        var writable: [String] = []
        if let database = config.main?.database.resolvedPath { writable.append(FileSystem.parent(of: database)) }
        for registration in registrations {
            if case .filesystem(let target) = registration.provider { writable.append(target.resolvedPath) }
        }
        var seen: Set<String> = []
        let unique = writable.filter { seen.insert($0).inserted }

        var lines: [String] = []
        if !unique.isEmpty {
            // A timer must never write into the empty mount point of an unmounted file system;
            // a path on the root file system costs nothing.
            lines += ["[Unit]", "RequiresMountsFor=" + unique.map(Self.quote).joined(separator: " "), ""]
        }
        lines.append("[Service]")
        if case .success(let identity)? = identity {
            lines.append("# The database file's owner and group: files SQLite creates beside it are the application's.")
            lines.append("User=\(identity.uid)")
            lines.append("Group=\(identity.gid)")
            if let group = identity.directoryGroup { lines.append("SupplementaryGroups=\(group)") }
            // For ExecStartPre=+: missing backup directories are created owned by this identity.
            lines.append("Environment=\(ServiceIdentity.environmentName)=\(identity.environmentValue)")
        }
        var paths = unique
        if locations.stateDirectory != Locations.defaultStateDirectory { paths.append(locations.stateDirectory) }
        // ProtectHome=yes hides /home, /root and /run/user whole; ProtectHome=tmpfs shows an empty
        // tmpfs there instead, into which BindPaths= mounts exactly the directories needed.
        let hidden = paths.filter { PathAccess.protectedHome(of: $0) != nil }
        let open = paths.filter { PathAccess.protectedHome(of: $0) == nil }
        // "-": a directory that does not exist yet must not stop the service from starting
        // (ExecStartPre=+ creates missing backup directories before the sandbox is set up).
        if !open.isEmpty { lines.append("ReadWritePaths=" + open.map { "-" + Self.quote($0) }.joined(separator: " ")) }
        if !hidden.isEmpty {
            lines.append("ProtectHome=tmpfs")
            lines.append("BindPaths=" + hidden.map { "-" + Self.quote($0) }.joined(separator: " "))
        }
        if locations.configDirectory != Locations.defaultConfigDirectory {
            lines.append("Environment=" + Self.quote("DBBACKUP_CONFIG_DIR=\(locations.configDirectory)"))
        }
        if locations.stateDirectory != Locations.defaultStateDirectory {
            lines.append("Environment=" + Self.quote("DBBACKUP_STATE_DIR=\(locations.stateDirectory)"))
        }
        if migration {
            for registration in registrations {
                guard case .s3 = registration.provider else { continue }
                let id = "s3-secret.\(registration.name)"
                let secretPath = SecretFiles(locations: locations).path(for: registration.name)
                lines.append("LoadCredential=\(id):\(Self.escapeSpecifiers(secretPath))")
                lines.append("SetCredential=\(id):\(SecretFiles.noSecretPlaceholder)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `%` starts a specifier in unit files; a literal one is written `%%`.
    static func escapeSpecifiers(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var result = ""
        for character in text { result += character == "%" ? "%%" : String(character) }
        return result
    }

    /// A word for a space-separated unit setting: specifiers escaped, and quoted with C-style
    /// escapes when it holds white space, quotes or backslashes.
    static func quote(_ text: String) -> String {
        let escaped = escapeSpecifiers(text)
        // Plain ASCII paths, the common case, are told apart byte by byte; anything else is
        // looked at as characters (Unicode white space is quoted too).
        let plain = escaped.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "'")
                && byte != UInt8(ascii: "\\")
        }
        guard !plain, escaped.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == "\\" }) else {
            return escaped
        }
        var result = "\""
        for character in escaped {
            if character == "\\" || character == "\"" { result.append("\\") }
            result.append(character)
        }
        return result + "\""
    }

    /// Writes the files into `directory` (the generator's normal output directory). The
    /// output lives in /run and is written anew at every boot and reload, so, like systemd's
    /// own generators, it is written plainly: no fsync, which would cost a generator's speed.
    public func write(to directory: String) throws {
        var made: Set<String> = []
        for file in files() {
            let path = "\(directory)/\(file.path)"
            let parent = FileSystem.parent(of: path)
            if made.insert(parent).inserted { try FileSystem.makeDirectories(parent) }
            if let target = file.linkTarget {
                // The directory is normally empty (systemd empties it before every run): replace
                // an existing link only when there is one.
                if try !Self.link(target, at: path) {
                    try? FileSystem.unlinkIfPresent(path)
                    try Syscalls.symlink(target, at: path)
                }
            } else {
                let fd = try FileSystem.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
                defer { FileSystem.close(fd) }
                var contents = file.contents
                var failure: SystemError?
                contents.withUTF8 { bytes in
                    do throws(SystemError) {
                        try FileSystem.writeAll(fd, UnsafeRawBufferPointer(bytes), path: path)
                    } catch { failure = error }
                }
                if let failure { throw failure }
            }
        }
    }

    /// A symlink at `path` to `target`: false when a file of that name is already there.
    private static func link(_ target: String, at path: String) throws(SystemError) -> Bool {
        switch Result(catching: { () throws(SystemError) in try Syscalls.symlink(target, at: path) }) {
        case .success: return true
        case .failure(let error) where error.errno == EEXIST: return false
        case .failure(let error): throw error
        }
    }
}

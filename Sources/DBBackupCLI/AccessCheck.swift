import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

/// One result of checking access as the services would have it.
struct AccessFinding: Equatable {
    /// The registration whose directory was checked; nil for the database.
    var registration: String?
    /// The configuration field it concerns: `database.path`, `database.version_query`, `path`.
    var field: String
    var ok: Bool
    var message: String

    var json: ConfigValue {
        .table([
            "registration": .optional(registration), "field": .string(field), "ok": .bool(ok),
            "message": .string(message),
        ])
    }

    init(registration: String? = nil, field: String, ok: Bool, message: String) {
        self.registration = registration
        self.field = field
        self.ok = ok
        self.message = message
    }

    init?(_ value: ConfigValue) {
        guard let field = value["field"]?.stringValue, let ok = value["ok"]?.boolValue,
            let message = value["message"]?.stringValue
        else { return nil }
        self.init(registration: value["registration"]?.stringValue, field: field, ok: ok, message: message)
    }
}

/// The checks themselves, run by whoever this process is: inside a transient unit with the
/// service's identity and sandbox, as the identity through setpriv, or as the caller.
enum AccessChecks {
    /// Opens the database the way a snapshot does (read-only, one read transaction) unless that
    /// would create its -wal/-shm: then only says whether the snapshot may create them.
    static func database(_ main: MainConfig) -> [AccessFinding] {
        let path = main.database.resolvedPath
        let who = ProcessIdentity.describe(uid: geteuid())
        let inspection: LiveDatabase.Inspection
        do {
            inspection = try LiveDatabase.inspect(path)
        } catch {
            return [AccessFinding(field: "database.path", ok: false, message: error.message)]
        }
        if !inspection.created.isEmpty {
            let names = inspection.created.map { FileSystem.name(of: path) + $0 }.joined(separator: " and ")
            return [
                AccessFinding(
                    field: "database.path", ok: true,
                    message:
                        "\(path) is a WAL database nobody has open right now: a backup by \(who) creates \(names) "
                        + "owned by \(ProcessIdentity.describe(uid: inspection.owner)), group "
                        + "\(ProcessIdentity.describe(gid: inspection.group)), "
                            + """
                            mode 0\(String(inspection.mode & 0o777, radix: 8)), as the application itself would (not \
                            opened now, so as not to create them)
                            """
                )
            ]
        }
        var findings: [AccessFinding] = []
        do {
            let connection = try SQLiteConnection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 1000)
            try connection.execute("BEGIN")
            _ = try connection.scalar("SELECT count(*) FROM sqlite_schema")
            try? connection.execute("COMMIT")
            findings.append(AccessFinding(field: "database.path", ok: true, message: "\(path) can be read by \(who)"))
        } catch  where error.isBusy {
            findings.append(
                AccessFinding(
                    field: "database.path", ok: true,
                    message:
                        """
                        \(path) can be opened by \(who) (a writer holds it locked right now; a backup waits up to \
                        busy_timeout)
                        """
                ))
        } catch {
            let explained = Snapshot.explain(error, database: path)?.message
            let message =
                explained
                ?? (error.isNotADatabase
                    ? "\(path) is not an SQLite database or is damaged: \(error.message)"
                    : "\(path) cannot be read by \(who): \(error)")
            return [AccessFinding(field: "database.path", ok: false, message: message)]
        }
        if let query = main.database.versionQuery, let problem = VersionQuery.problem(query, onDatabaseAt: path) {
            findings.append(
                AccessFinding(field: "database.version_query", ok: false, message: "\(problem); \(VersionQuery.fix)"))
        }
        return findings
    }

    /// Creates and removes a file in the backup directory, as a backup would.
    static func directory(_ name: String, _ directory: String) -> AccessFinding {
        let who = ProcessIdentity.describe(uid: geteuid())
        func failed(_ message: String) -> AccessFinding {
            AccessFinding(registration: name, field: "path", ok: false, message: message)
        }
        switch PathAccess.lookup(directory) {
        case .missing:
            return failed(PathAccess.hiddenBySandbox(directory) ?? "\(directory) does not exist")
        case .unreachable(let error):
            let blocking = PathAccess.blockingAncestor(of: directory).map { ": \($0) does not let it through" } ?? ""
            return failed(
                PathAccess.hiddenBySandbox(directory)
                    ?? "\(directory) cannot be reached by \(who) (\(String(cString: strerror(error))))\(blocking)"
            )
        case .found(let info) where (info.st_mode & S_IFMT) != S_IFDIR:
            return failed("\(directory) is not a directory")
        case .found:
            break
        }
        let probe = "\(directory)/.dbbackup-probe-\(getpid())-\(Timestamp.now().millisecondsSinceEpoch)"
        do {
            let fd = try FileSystem.open(probe, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            defer { FileSystem.close(fd) }
            try FileSystem.writeAll(fd, Array("dbbackup probe\n".utf8), path: probe)
            try FileSystem.fsync(fd, path: probe)
        } catch {
            try? FileSystem.unlinkIfPresent(probe)
            return failed("\(directory) \(PathAccess.unwritableReason(directory) ?? "cannot take a file: \(error)")")
        }
        do {
            try FileSystem.unlinkIfPresent(probe)
            try FileSystem.fsyncDirectory(directory)
        } catch {
            return failed("removing the probe \(probe) failed: \(error)")
        }
        return AccessFinding(
            registration: name, field: "path", ok: true,
            message: "\(directory): \(who) created and removed a file in it")
    }
}

/// The checks from inside: what `config check` and `registration test` run in a transient unit
/// with the service's identity and sandbox (or as that identity through setpriv). Hidden.
struct AccessCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-check",
        abstract:
            """
            Check, as this process is, access to the database and to registrations' backup directories; JSON on \
            stdout.
            """,
        shouldDisplay: false)

    @OptionGroup var globals: GlobalOptions
    @Flag(help: "Check the database.") var database = false
    @Option(help: "Check this registration's backup directory (repeatable).") var registration: [String] = []

    func run() throws {
        do {
            let loaded = globals.store.load()
            var findings: [AccessFinding] = []
            if database {
                if let main = loaded.main {
                    findings += AccessChecks.database(main)
                } else {
                    // The service reads the configuration too.
                    findings.append(
                        AccessFinding(
                            field: "database.path", ok: false,
                            message: "\(ProcessIdentity.describe(uid: geteuid())) cannot read the configuration: "
                                + loaded.errors.map(\.description).joined(separator: "; ")))
                }
            }
            for name in registration {
                guard let found = loaded.registrations.first(where: { $0.name == name }),
                    case .filesystem(let target) = found.provider
                else { continue }
                findings.append(AccessChecks.directory(name, target.resolvedPath))
            }
            Output.json(.array(findings.map(\.json)))
        }
    }
}

/// Every exit status dbbackup gives, in one place: `run --help`, the README's table and the
/// code all come from (or are checked against) this list.
///
/// The values are BSD's sysexits (64-78), which systemd prints by name in `systemctl status`
/// (`status=73/CANTCREAT`), so a failed unit says what kind of failure it was. Scripts may rely
/// on them; they are stable.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case ok = 0
    /// Anything without a status of its own (e.g. a restore that failed its checks).
    case failure = 1
    case usage = 64
    case suspect = 65
    case snapshot = 66
    case store = 73
    case cleanup = 74
    case busy = 75
    case permission = 77
    case configuration = 78

    public var code: Int32 { rawValue }

    /// The name systemd shows after the number (`status=65/DATAERR`).
    public var systemdName: String {
        switch self {
        case .ok: "SUCCESS"
        case .failure: "FAILURE"
        case .usage: "USAGE"
        case .suspect: "DATAERR"
        case .snapshot: "NOINPUT"
        case .store: "CANTCREAT"
        case .cleanup: "IOERR"
        case .busy: "TEMPFAIL"
        case .permission: "NOPERM"
        case .configuration: "CONFIG"
        }
    }

    /// What the status means, for people: one row of the table.
    public var meaning: String {
        switch self {
        case .ok: "every backup was stored and recorded"
        case .failure: "any other failure (e.g. a restore whose checks failed); the message says what"
        case .usage: "the command line itself is wrong"
        case .suspect:
            """
            stored and recorded, but the backup looks wrong (empty, much smaller than the last good one, or an \
            older schema version); it never pushes a good backup out of retention until confirmed with `dbbackup \
            confirm`
            """
        case .snapshot:
            "snapshot failed: database missing, not a database, locked longer than `busy_timeout`, bad version query"
        case .store: "store failed: directory not creatable or writable, disk full, upload failed"
        case .cleanup:
            """
            stored and recorded, but retention or the clean-up of an earlier failed run could not delete \
            something (retried on the next run)
            """
        case .busy: "another run of the same database held the lock longer than `lock_timeout`"
        case .permission: "this user may not read the database or write a directory it needs (the message names which)"
        case .configuration: "configuration error (also for any verb given bad configuration values)"
        }
    }

    /// Which status a run of several registrations ends with: the most severe. A failed
    /// backup outranks a stored one; among stored ones, a suspect outranks a cleanup failure.
    public var severity: Int {
        switch self {
        case .ok: 0
        case .cleanup: 1
        case .suspect: 2
        case .failure: 3
        case .busy: 4
        case .store: 5
        case .snapshot: 6
        case .permission: 7
        case .usage: 8
        case .configuration: 9
        }
    }

    /// Whether a backup was stored despite this status (the run can still be relied on).
    public var stored: Bool { self == .ok || self == .cleanup || self == .suspect }

    /// The status for a raw exit code, if it is one of ours.
    public init?(code: Int32) { self.init(rawValue: code) }

    /// The statuses a backup run can end with, as `run --help` and the README list them.
    public static var runStatuses: [ExitStatus] {
        [.ok, .suspect, .snapshot, .store, .cleanup, .busy, .permission, .configuration, .usage]
    }

    /// The table as Markdown (README) rows: `| 73 | CANTCREAT | store failed: … |`.
    public static var markdownTable: String {
        (["| status | systemd shows | meaning |", "|---|---|---|"]
            + runStatuses.map { "| \($0.code) | \($0.systemdName) | \($0.meaning) |" }).joined(separator: "\n")
    }

    /// The table as `--help` text: one status a line.
    public static var helpText: String {
        runStatuses.map { "\($0.code) (\($0.systemdName)): \($0.meaning)" }.joined(separator: "\n")
    }
}

extension ExitStatus {
    /// The severity of a raw exit code: ours by the table, any other after every one of ours
    /// but the configuration and usage errors.
    public static func severity(of code: Int32) -> Int {
        ExitStatus(code: code)?.severity ?? ExitStatus.failure.severity
    }
}

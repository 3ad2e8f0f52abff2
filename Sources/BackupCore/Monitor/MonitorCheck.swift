import SystemCalls

/// `dbbackup status --check`: the monitoring-plugin verdict on every registration, from the
/// registry's facts, the schedules and systemd's timers. Pure: the command gathers the input.
///
/// - CRITICAL: overdue (no success since a scheduled run was due, plus the grace period), the
///   newest attempt failed, the timer is missing, or a registration file cannot be used.
/// - WARNING: a kept backup is suspect, retention could not delete something, or backup files
///   lie in a registration's directory that the registry does not know; no registration.
/// - UNKNOWN: the configuration or the facts cannot be read (the command decides that).
public enum MonitorCheck {
    public enum Status: Int32, Sendable, Comparable {
        case ok = 0, warning = 1, critical = 2, unknown = 3

        public var name: String {
            switch self {
            case .ok: "ok"
            case .warning: "warning"
            case .critical: "critical"
            case .unknown: "unknown"
            }
        }

        /// Worst first, as monitoring systems rank them: CRITICAL, UNKNOWN, WARNING, OK.
        var rank: Int {
            switch self {
            case .ok: 0
            case .warning: 1
            case .unknown: 2
            case .critical: 3
            }
        }

        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
    }

    public struct Problem: Sendable, Equatable {
        public var registration: String?
        public var severity: Status
        public var message: String

        public init(registration: String?, severity: Status, message: String) {
            self.registration = registration
            self.severity = severity
            self.message = message
        }

        /// `nightly: last run failed …`
        public var line: String { (registration.map { "\($0): " } ?? "") + message }
    }

    /// What systemd says, when it runs here.
    public struct SystemdView: Sendable {
        /// Timer units systemd lists with a next elapse (loaded, started, scheduled).
        public var scheduledTimers: Set<String>
        /// Services running now (a backup in progress is not overdue yet).
        public var runningServices: Set<String>

        public init(scheduledTimers: Set<String>, runningServices: Set<String>) {
            self.scheduledTimers = scheduledTimers
            self.runningServices = runningServices
        }
    }

    public struct Input: Sendable {
        public var registrations: [Registration]
        /// Errors that keep a registration file from being used (it is skipped: no backups).
        public var unusableFiles: [ConfigProblem]
        public var facts: [String: RegistrationFacts]
        /// When each registration file was last written: the start for one that never succeeded.
        public var configuredAt: [String: Timestamp]
        public var systemd: SystemdView?
        public var graceSeconds: Int
        public var now: Timestamp
        /// The boot clock at `now`: ages of last successes stored in this boot come from it.
        public var boot: BootInstant?

        public init(
            registrations: [Registration], unusableFiles: [ConfigProblem], facts: [String: RegistrationFacts],
            configuredAt: [String: Timestamp], systemd: SystemdView?, graceSeconds: Int, now: Timestamp,
            boot: BootInstant? = nil
        ) {
            self.registrations = registrations
            self.unusableFiles = unusableFiles
            self.facts = facts
            self.configuredAt = configuredAt
            self.systemd = systemd
            self.graceSeconds = graceSeconds
            self.now = now
            self.boot = boot
        }
    }

    /// One registration as the check saw it.
    public struct Row: Sendable {
        public var registration: Registration
        public var facts: RegistrationFacts
        /// The last success's time on today's clock: its recorded time, moved by as much as
        /// the wall clock was stepped since (see `Success.clockShift`).
        public var lastSuccessAt: Timestamp?
        /// When the next scheduled backup was due after the last success; nil for migration.
        public var dueAt: Timestamp?
        /// `dueAt` plus the grace period: overdue after this.
        public var overdueAt: Timestamp?
        public var timer: String?
        public var timerScheduled: Bool?
        public var running: Bool
    }

    public struct Result: Sendable {
        public var status: Status
        public var problems: [Problem]
        public var rows: [Row]
        public var now: Timestamp
        /// Where the facts came from (`registry`, or the status file and when it was written).
        public var source: String

        /// `DBBACKUP CRITICAL - nightly: last run failed ...` (without perfdata).
        public var summary: String {
            let head = "DBBACKUP \(status.name.uppercased()) - "
            let worst = problems.filter { $0.severity == status }
            if !worst.isEmpty {
                let shown = worst.prefix(3).map(\.line).joined(separator: "; ")
                return head + shown + (worst.count > 3 ? "; and \(worst.count - 3) more" : "")
            }
            if rows.isEmpty { return head + "no registrations" }
            let ages = rows.map { row in
                "\(row.registration.name) "
                    + (row.lastSuccessAt.map { MonitorCheck.age(from: $0, to: now) + " ago" } ?? "never")
            }
            return head + "\(rows.count) registration\(rows.count == 1 ? "" : "s"), last success: "
                + ages.joined(separator: ", ")
        }

        /// Performance data: per registration the age of its last success (critical at the
        /// overdue point), backups kept and the last backup's size.
        public var perfdata: String {
            rows.flatMap { row -> [String] in
                let name = row.registration.name
                let age = row.lastSuccessAt.map { String(max(0, $0.milliseconds(until: now) / 1000)) + "s" } ?? "U"
                let critical =
                    zip(row.lastSuccessAt, row.overdueAt).map { String($0.milliseconds(until: $1) / 1000) } ?? ""
                return [
                    "\(name)_age=\(age);;\(critical);0;", "\(name)_kept=\(row.facts.backupsKept);;;0;",
                    "\(name)_size=\(row.facts.lastSuccess?.size ?? 0)B;;;0;",
                ]
            }.joined(separator: " ")
        }

        /// The plugin's output: the summary and perfdata, then one line per problem.
        public var text: String {
            ([summary + (perfdata.isEmpty ? "" : " | " + perfdata)]
                + problems.map { "\($0.severity.name.uppercased()) \($0.line)" })
                .joined(separator: "\n")
        }

        public var value: ConfigValue {
            .table([
                "status": .string(status.name),
                "summary": .string(summary),
                "problems": .array(
                    problems.map {
                        .table([
                            "registration": .optional($0.registration), "severity": .string($0.severity.name),
                            "message": .string($0.message),
                        ])
                    }),
                "checked_at": .string(now.rfc3339),
                "source": .string(source),
                "registrations": .array(
                    rows.map { row in
                        var table: [String: ConfigValue] = [
                            "name": .string(row.registration.name),
                            "schedule_summary": .string(row.registration.schedule.summary),
                            "last_success": .optional(row.facts.lastSuccess?.at.rfc3339),
                            "age_seconds": .optional(row.lastSuccessAt.map { $0.milliseconds(until: now) / 1000 }),
                            "due_at": .optional(row.dueAt?.rfc3339),
                            "overdue_at": .optional(row.overdueAt?.rfc3339),
                            "timer": .optional(row.timer),
                            "timer_scheduled": row.timerScheduled.map { .bool($0) } ?? .null,
                            "running": .bool(row.running),
                        ]
                        if case .table(let facts) = row.facts.value {
                            for key in [
                                "last_attempt", "backups_kept", "bytes_kept", "cleanup_pending", "suspect", "untracked",
                                "leftovers",
                            ] {
                                table[key] = facts[key]
                            }
                        }
                        return .table(table)
                    }),
            ])
        }
    }

    public static func evaluate(_ input: Input, source: String) -> Result {
        var problems: [Problem] = []
        var rows: [Row] = []
        for problem in input.unusableFiles {
            let name =
                problem.file.hasPrefix("registrations.d/")
                ? String(FileSystem.name(of: problem.file).dropLast(".toml".count)) : nil
            problems.append(
                Problem(
                    registration: name, severity: .critical,
                    message: "its file cannot be used, so it makes no backups: \(problem.description)"))
        }
        if input.registrations.isEmpty && input.unusableFiles.isEmpty {
            problems.append(
                Problem(
                    registration: nil, severity: .warning,
                    message:
                        """
                        no registration is configured, so nothing is backed up; add one with: dbbackup \
                        registration add
                        """
                ))
        }
        for registration in input.registrations {
            let name = registration.name
            let facts = input.facts[name] ?? RegistrationFacts()
            let scheduled = registration.schedule.kind != .migration
            let timer = scheduled ? UnitGenerator.timerUnit(name) : nil
            let service = scheduled ? UnitGenerator.serviceUnit(name) : "dbbackup-migration.service"
            let running = input.systemd?.runningServices.contains(service) ?? false
            var row = Row(
                registration: registration, facts: facts, lastSuccessAt: facts.lastSuccess?.at, timer: timer,
                timerScheduled: timer.flatMap { unit in input.systemd.map { $0.scheduledTimers.contains(unit) } },
                running: running)

            if let attempt = facts.lastAttempt, attempt.outcome == .failed {
                problems.append(
                    Problem(
                        registration: name, severity: .critical,
                        message:
                            """
                            last run failed \(age(from: attempt.at, to: input.now)) ago (\(attempt.at.rfc3339)): \
                            \(attempt.error ?? "no reason recorded")
                            """
                    ))
            }
            if let timer, row.timerScheduled == false {
                problems.append(
                    Problem(
                        registration: name, severity: .critical,
                        message: "timer \(timer) is missing: systemd lists no next run for it; run: dbbackup apply"))
            }
            // A wall clock stepped since the last success (behind when it ran and set right
            // since, or the other way) would make it look days old, or not yet made: its age
            // comes from the boot clock where that is known.
            let shift = facts.lastSuccess?.clockShift(now: input.now, boot: input.boot) ?? 0
            if let success = facts.lastSuccess, abs(shift) > clockTolerance {
                let moved = Timestamp(millisecondsSinceEpoch: success.at.millisecondsSinceEpoch + shift)
                let direction = shift > 0 ? "forward" : "back"
                row.lastSuccessAt = moved
                problems.append(
                    Problem(
                        registration: name, severity: .warning,
                        message:
                            """
                            its last success is dated \(success.at.rfc3339), but by the boot clock it ran \
                            \(age(from: moved, to: input.now)) ago: the clock was stepped \(direction) by \
                            \(span(abs(shift))) since, so it was wrong when the backup ran or is wrong now; overdue \
                            is judged from the boot clock; check the clock (timedatectl)
                            """
                    ))
            }
            if scheduled, let anchor = row.lastSuccessAt ?? input.configuredAt[name],
                let calendar = ScheduleCalendar(registration.schedule),
                let due = calendar.nextRun(after: anchor)
            {
                let overdueAt = Timestamp(
                    millisecondsSinceEpoch: due.millisecondsSinceEpoch + Int64(input.graceSeconds) * 1000)
                row.dueAt = due
                row.overdueAt = overdueAt
                if input.now > overdueAt && !running {
                    let last =
                        row.lastSuccessAt.map {
                            "its last success was \(age(from: $0, to: input.now)) ago (\($0.rfc3339))"
                        }
                        ?? "it has never succeeded (configured \(anchor.rfc3339))"
                    problems.append(
                        Problem(
                            registration: name, severity: .critical,
                            message:
                                """
                                overdue: \(last), and a run was due at \(due.rfc3339) \
                                (\(registration.schedule.summary), grace \(input.graceSeconds / 60) min)
                                """
                        ))
                }
            }
            // Overdue is judged from the last success's time: one dated in the future (the clock
            // was ahead when it ran, or is behind now) would hide a missed backup until then.
            if let success = facts.lastSuccess, abs(shift) <= clockTolerance,
                success.at.millisecondsSinceEpoch > input.now.millisecondsSinceEpoch + clockTolerance
            {
                problems.append(
                    Problem(
                        registration: name, severity: .warning,
                        message:
                            """
                            its last success is dated \(success.at.rfc3339), in the future: the clock was ahead when \
                            it ran, or is behind now, so whether a backup is overdue cannot be told until one runs \
                            with the right time; check the clock (timedatectl), then run: systemctl start \
                            \(service)
                            """
                    ))
            }
            for suspect in facts.suspect {
                problems.append(
                    Problem(
                        registration: name, severity: .warning,
                        message: "backup \(suspect.id) of \(suspect.at.rfc3339) looks wrong: \(suspect.reason)"))
            }
            if facts.untracked > 0, case .filesystem(let target) = registration.provider {
                problems.append(
                    Problem(
                        registration: name, severity: .warning,
                        message:
                            """
                            \(facts.untracked) backup file(s) in \(target.resolvedPath) that the registry does not \
                            know (it was lost or set aside as damaged): retention, list and restore latest do not \
                            see them; run: dbbackup registry rebuild --registration \(name)
                            """
                    ))
            }
            for leftover in facts.leftovers {
                problems.append(
                    Problem(
                        registration: name, severity: .warning,
                        message:
                            """
                            the key of failed backup \(leftover.id) could not be deleted where it was sent (a late \
                            upload may have stored it): \(leftover.error); the next run retries; if that store is gone \
                            for good, or the object was removed by hand: dbbackup registry forget \(leftover.id)
                            """
                    ))
            }
            if facts.cleanupPending > 0 {
                problems.append(
                    Problem(
                        registration: name, severity: .warning,
                        message:
                            """
                            retention could not delete \(facts.cleanupPending) old backup(s) yet; the next run \
                            retries (see: journalctl -u '\(service)')
                            """
                    ))
            }
            rows.append(row)
        }
        let status = problems.map(\.severity).max() ?? .ok
        // Worst first, in the order found within a severity.
        let ordered = problems.enumerated().sorted {
            ($0.element.severity.rank, -$0.offset) > ($1.element.severity.rank, -$1.offset)
        }.map(\.element)
        return Result(status: status, problems: ordered, rows: rows, now: input.now, source: source)
    }

    /// The check cannot be made: `DBBACKUP UNKNOWN - why`.
    public static func unknown(_ message: String, now: Timestamp = .now()) -> Result {
        Result(
            status: .unknown, problems: [Problem(registration: nil, severity: .unknown, message: message)], rows: [],
            now: now, source: "none")
    }

    /// Clocks that disagree by at most this much (5 min, in milliseconds) are taken as the same
    /// clock: a run here and a check elsewhere, or a small NTP correction, is no step.
    static let clockTolerance: Int64 = 300_000

    /// `45s`, `12m`, `5h 3m`, `2d 4h`.
    public static func age(from start: Timestamp, to end: Timestamp) -> String {
        span(start.milliseconds(until: end))
    }

    /// A span of milliseconds as `age` writes it (`0s` for a negative one).
    static func span(_ milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1000)
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m"
        case ..<86_400: return "\(seconds / 3600)h \(seconds % 3600 / 60)m"
        default: return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h"
        }
    }
}

/// Both values, or nil.
private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

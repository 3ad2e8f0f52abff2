import BackupCore
import FoundationEssentials
import Glibc
import Logging
import Synchronization
import SystemdSupport

/// How a run tells people and systemd what it does: under systemd, `STATUS=` lines and
/// structured journal entries; on a terminal, a progress line.
enum Reporting {
    /// stderr is the journal stream systemd gave the service.
    static let toJournal = JournalStream.isConnected()
    static let notifySocket = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil

    /// Fixed MESSAGE_IDs, so `journalctl MESSAGE_ID=…` finds every run of one outcome.
    enum MessageID {
        static let stored = "5b7f2c1e9a8d4f03b6e1d2c3a4f5e6b7"
        static let failed = "c41d8e2f7b6a4c59a0e3f1d2b5c6a7e8"
        static let cleanupFailed = "e9a3b5c7d1f24e68b0a2c4d6e8f0a1b3"
        static let suspect = "7a1c3e5b9d2f4a6c8e0b1d3f5a7c9e2b"
        static let unitFailed = "2d4f6a8c0e1b4d3f5a7c9e1b3d5f7a92"
    }

    static func observer() -> RunObserver {
        let line = ProgressLine.observer()
        guard notifySocket else { return line }
        let lastPercent = Locked<[String: Int]>([:])
        return RunObserver(
            step: { registration, text in
                line.step(registration, text)
                _ = try? SystemdNotifier.notify(.status("\(registration): \(text)"))
            },
            progress: { registration, text, fraction in
                line.progress(registration, text, fraction)
                let percent = Int(fraction * 100)
                let changed = lastPercent.withLock { seen in
                    defer { seen[registration + text] = percent }
                    return seen[registration + text] != percent
                }
                if changed { _ = try? SystemdNotifier.notify(.status("\(registration): \(text) \(percent)%")) }
            })
    }

    /// One structured journal entry per registration run: stored (with `failure` when the
    /// backup is suspect, or retention could not delete), or failed.
    static func journal(_ registration: Registration, trigger: BackupTrigger, report: RunReport?, failure: RunFailure?)
    {
        guard toJournal else { return }
        var fields = [
            "DBBACKUP_REGISTRATION": registration.name,
            "DBBACKUP_PROVIDER": registration.provider.kind,
            "DBBACKUP_TRIGGER": trigger.rawValue,
        ]
        let priority: JournalPriority
        let message: String
        let messageID: String
        if let report {
            let backup = report.backup
            fields["DBBACKUP_FILE"] = backup.location?.description ?? ""
            fields["DBBACKUP_SIZE"] = String(backup.size ?? 0)
            fields["DBBACKUP_SHA256"] = backup.sha256 ?? ""
            if let plain = backup.plainSize { fields["DBBACKUP_PLAIN_SIZE"] = String(plain) }
            if let plain = backup.plainSHA256 { fields["DBBACKUP_PLAIN_SHA256"] = plain }
            fields["DBBACKUP_VERSION"] = backup.version ?? ""
            fields["DBBACKUP_DURATION_MS"] = String(report.durationMilliseconds)
            fields["DBBACKUP_BACKUP_ID"] = String(backup.id)
            fields["DBBACKUP_PRUNED"] = String(report.pruned.count)
            fields["DBBACKUP_SNAPSHOT"] = report.snapshotMethod.rawValue
            message =
                """
                \(registration.name): stored \(backup.location?.description ?? "?") (\(backup.size ?? 0) bytes, \
                schema version \(backup.version ?? "?")) in \(report.durationMilliseconds) ms
                """
                + (failure.map { "; but \($0.message)" } ?? "")
            if let failure {
                // Stored, but suspect or retention could not delete: one entry with both, at warning.
                let suspect = failure.kind == .suspect
                fields["DBBACKUP_OUTCOME"] = suspect ? "suspect" : "cleanup-failed"
                fields["DBBACKUP_ERROR"] = failure.message
                fields["DBBACKUP_EXIT_STATUS"] = String(failure.kind.exitCode)
                if let reason = backup.suspect { fields["DBBACKUP_SUSPECT"] = reason }
                priority = .warning
                messageID = suspect ? MessageID.suspect : MessageID.cleanupFailed
            } else {
                fields["DBBACKUP_OUTCOME"] = "stored"
                priority = .notice
                messageID = MessageID.stored
            }
        } else {
            let failure = failure ?? RunFailure(.store, registration: registration.name, "unknown failure")
            fields["DBBACKUP_OUTCOME"] = "failed"
            fields["DBBACKUP_ERROR"] = failure.message
            fields["DBBACKUP_EXIT_STATUS"] = String(failure.kind.exitCode)
            priority = .error
            messageID = MessageID.failed
            message = "\(registration.name): \(failure.message)"
        }
        try? JournalWriter.send(message, priority: priority, messageID: messageID, fields: fields)
    }
}

/// A lock-protected value the observer's closures can share (they may run on any thread).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        mutex.withLock { body(&$0) }
    }
}

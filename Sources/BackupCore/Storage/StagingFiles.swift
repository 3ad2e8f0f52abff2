import FoundationEssentials
import Glibc
import SystemCalls

/// The files SQLite keeps beside a database while it is open.
enum SQLiteSideFiles {
    static let suffixes = ["-wal", "-shm", "-journal"]
}

/// Staging files are named `.dbbackup-staging-REGISTRATION-PID-MILLISECONDS.db`, so a run can
/// tell its own from those of processes that died.
enum StagingFiles {
    static let prefix = ".dbbackup-staging-"

    static func path(in directory: String, registration: String, startedAt: Timestamp) -> String {
        "\(directory)/\(prefix)\(registration)-\(getpid())-\(startedAt.millisecondsSinceEpoch).db"
    }

    /// Removes staging files of processes that are gone. A live run's staging file is left alone.
    static func removeLeftovers(in directory: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            // Side files (-wal, -shm) of a staging file belong to the same run.
            let base =
                SQLiteSideFiles.suffixes.first { entry.hasSuffix($0) }.map { String(entry.dropLast($0.count)) } ?? entry
            let fields = base.dropFirst(prefix.count).split(separator: "-")
            guard fields.count >= 3, let pid = Int32(fields[fields.count - 2]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileSystem.unlinkIfPresent("\(directory)/\(entry)")
            }
        }
    }
}

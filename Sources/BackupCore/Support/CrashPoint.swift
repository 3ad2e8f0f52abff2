import Glibc

/// Named points of a run where the reliability tests kill the process (SIGKILL, as a power
/// cut or the OOM killer would), to prove that a crash anywhere leaves the registry
/// consistent with what is stored. Inert unless DBBACKUP_TEST_CRASH_AT names the point, and
/// compiled in only in debug builds (DBBACKUP_CRASH_POINTS, see Package.swift): the shipped
/// release binary neither reads that variable nor contains the points.
public enum CrashPoint: String, CaseIterable, Sendable {
    case afterSnapshot = "after-snapshot"
    case afterRecord = "after-record"
    case afterPlace = "after-place"
    case afterStored = "after-stored"
    case beforeDelete = "before-delete"
    case afterDelete = "after-delete"

    #if DBBACKUP_CRASH_POINTS
    private static let armed: String? = getenv("DBBACKUP_TEST_CRASH_AT").map { String(cString: $0) }

    func reached() {
        if Self.armed == rawValue { kill(getpid(), SIGKILL) }
    }
    #else
    @inline(__always) func reached() {}
    #endif
}

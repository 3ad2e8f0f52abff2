import Glibc

/// Named points of a run where the reliability tests kill the process (SIGKILL, as a power
/// cut or the OOM killer would), to prove that a crash anywhere leaves the registry
/// consistent with what is stored. Inert unless DBBACKUP_TEST_CRASH_AT names the point, and
/// compiled in only in debug builds (DBBACKUP_CRASH_POINTS, see Package.swift): the shipped
/// release binary neither reads that variable nor contains the points.
public enum CrashPoint: String, CaseIterable, Sendable {
    /// A plain S3 backup above the multipart threshold, recorded as pending and its upload
    /// started, before the first byte of the snapshot is copied.
    case afterEarlyRecord = "after-early-record"
    /// The first part of such an upload was accepted by the store (the copy may still run).
    case afterFirstPart = "after-first-part"
    /// Every part of it is in the store and the snapshot verified, before the upload is committed.
    case beforeComplete = "before-complete"
    case afterSnapshot = "after-snapshot"
    case afterRecord = "after-record"
    case afterPlace = "after-place"
    case afterStored = "after-stored"
    case beforeDelete = "before-delete"
    case afterDelete = "after-delete"

    /// The points only a plain S3 backup above the multipart threshold reaches (the upload
    /// that goes on while the snapshot is copied); every run reaches the others.
    public static let overlappedUpload: [CrashPoint] = [.afterEarlyRecord, .afterFirstPart, .beforeComplete]

    #if DBBACKUP_CRASH_POINTS
        private static let armed: String? = getenv("DBBACKUP_TEST_CRASH_AT").map { String(cString: $0) }

        func reached() {
            if Self.armed == rawValue { kill(getpid(), SIGKILL) }
        }
    #else
        @inline(__always) func reached() {}
    #endif
}

#if canImport(Glibc)
import Glibc
#endif
import BackupCore
import FoundationEssentials

/// The system user the backup services run as (sysusers.d creates it with the package).
/// When root configures a backup directory, it is prepared for that user.
enum ServiceUser {
    static let name = "dbbackup"

    static var ids: (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam(name) else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// Creates a missing backup directory owned by the service user, or warns when an existing
    /// one is not writable by it. Does nothing unless run as root on a host with that user.
    /// `note` says what was created (a line on stdout, or a note of a `--json` outcome).
    static func prepare(backupDirectory directory: String, note: (String) -> Void) {
        guard getuid() == 0, let (uid, gid) = ids else { return }
        var info = stat()
        if stat(directory, &info) != 0 {
            do {
                try FileSystem.makeDirectories(directory, mode: 0o750)
                _ = chown(directory, uid, gid)
                note("created \(directory) (owner \(name), mode 0750)")
            } catch {
                Output.stderr("warning: cannot create \(directory): \(error); create it writable by user \(name)")
            }
            return
        }
        if let problem = cannotWrite(directory) { Output.stderr("warning: \(problem)") }
    }

    /// Why the service user cannot write the existing `directory` (its mode and owner say so),
    /// with the fix; nil when it can, or when that cannot be told (not root, no such user).
    static func cannotWrite(_ directory: String) -> String? {
        guard getuid() == 0, let (uid, gid) = ids else { return nil }
        var info = stat()
        guard stat(directory, &info) == 0 else { return nil }
        let mode = info.st_mode
        let writable = (info.st_uid == uid && mode & S_IWUSR != 0)
            || (info.st_gid == gid && mode & S_IWGRP != 0)
            || mode & S_IWOTH != 0
        return writable ? nil : "the backup service runs as user \(name), which cannot write \(directory); fix: chown \(name): \(directory)"
    }
}

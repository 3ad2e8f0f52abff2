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
    static func prepare(backupDirectory directory: String) {
        guard getuid() == 0, let (uid, gid) = ids else { return }
        var info = stat()
        if stat(directory, &info) != 0 {
            do {
                try FileSystem.makeDirectories(directory, mode: 0o750)
                _ = chown(directory, uid, gid)
                print("created \(directory) (owner \(name), mode 0750)")
            } catch {
                Output.stderr("warning: cannot create \(directory): \(error); create it writable by user \(name)")
            }
            return
        }
        let mode = info.st_mode
        let writable = (info.st_uid == uid && mode & S_IWUSR != 0)
            || (info.st_gid == gid && mode & S_IWGRP != 0)
            || mode & S_IWOTH != 0
        if !writable {
            Output.stderr("warning: the backup service runs as user \(name), which cannot write \(directory); fix: chown \(name): \(directory)")
        }
    }
}

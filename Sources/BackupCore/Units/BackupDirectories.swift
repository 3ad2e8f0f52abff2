import FoundationEssentials
import Glibc
import SystemCalls

/// Backup directories belong to the identity the services run as (`ServiceIdentity`), and are
/// made so before the sandbox starts: `ReadWritePaths=-DIR` silently skips a directory that
/// does not exist yet, so a service could never create its own. Root does this, at
/// `registration add|edit|test`, `apply`, and in the services' `ExecStartPre=+`.
public enum BackupDirectories {
    public static let mode: mode_t = 0o750

    public enum Outcome: Sendable, Equatable {
        case existed
        case created
        /// It belonged to the former service user (`dbbackup`, before the services ran as the
        /// database's owner): it and the files that user made in it were handed over.
        case adopted(files: Int)
    }

    /// Creates `directory` if it is missing (parents 0755, the directory 0750, owned by
    /// `identity`), or hands it over from the former service user. Other existing directories
    /// are left as they are: whether the identity may write them is for `config check` to say.
    /// Root only.
    public static func prepare(_ directory: String, for identity: ServiceIdentity) throws(SystemError) -> Outcome {
        switch PathAccess.lookup(directory) {
        case .missing:
            try FileSystem.makeDirectories(directory, mode: mode)
            try Syscalls.changeOwner(directory, user: identity.uid, group: identity.gid)
            try? Syscalls.changeMode(directory, mode)
            return .created
        case .unreachable(let error):
            throw SystemError(operation: "stat", path: directory, errno: error)
        case .found(let info):
            guard let former = getpwnam(ServiceIdentity.fallbackUser).map({ $0.pointee.pw_uid }),
                info.st_uid == former, identity.uid != former, (info.st_mode & S_IFMT) == S_IFDIR
            else { return .existed }
            var handed = 0
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let path = "\(directory)/\(entry)"
                if let file = try? Syscalls.linkStatus(path), (file.st_mode & S_IFMT) == S_IFREG, file.st_uid == former,
                    (try? Syscalls.changeLinkOwner(path, user: identity.uid, group: identity.gid)) != nil
                {
                    handed += 1
                }
            }
            try Syscalls.changeOwner(directory, user: identity.uid, group: identity.gid)
            try? Syscalls.changeMode(directory, info.st_mode & 0o7777)  // chown cleared setgid
            return .adopted(files: handed)
        }
    }

    /// The identity the services will run as for this configuration, as the generator
    /// decides it (the database file's owner), or, when the database cannot be looked at, the
    /// static units' user `dbbackup`; nil when neither exists (a host without the package).
    public static func serviceIdentity(database: String?) -> ServiceIdentity? {
        if let database, case .success(let identity) = ServiceIdentity.of(database: database) { return identity }
        guard let entry = getpwnam(ServiceIdentity.fallbackUser) else { return nil }
        return ServiceIdentity(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// The identity the backup services run as: the owner and group of the database file.
///
/// A backup's read connection may create the database's `-wal` and `-shm` files (see
/// `LiveDatabase`); SQLite gives them the database file's mode and the creating process's
/// owner and group. Running as the database's owner and group makes them exactly the files
/// the application's own process would create. Numbers only: the generator does no NSS lookups.
public struct ServiceIdentity: Sendable, Equatable {
    public let uid: uid_t
    public let gid: gid_t
    /// The database directory's group, when it differs from `gid` and its mode gives that group
    /// access: a supplementary group, so that the directory stays reachable.
    public let directoryGroup: gid_t?

    public init(uid: uid_t, gid: gid_t, directoryGroup: gid_t? = nil) {
        self.uid = uid
        self.gid = gid
        self.directoryGroup = directoryGroup
    }

    /// The static units' `User=`, kept when the database cannot be looked at.
    public static let fallbackUser = "dbbackup"

    /// The variable through which the static units' `ExecStartPre=+` learns the identity
    /// (`UID:GID`, or `dbbackup:dbbackup` from the static unit itself).
    public static let environmentName = "DBBACKUP_SERVICE_IDENTITY"

    public var environmentValue: String { "\(uid):\(gid)" }

    public static func of(database: String) -> Result<ServiceIdentity, SystemError> {
        var info = stat()
        guard stat(database, &info) == 0 else { return .failure(SystemError(operation: "stat", path: database, errno: errno)) }
        var directory = stat()
        var directoryGroup: gid_t?
        if stat(FileSystem.parent(of: database), &directory) == 0, directory.st_gid != info.st_gid,
           (directory.st_mode >> 3) & 0o7 > directory.st_mode & 0o7 {
            directoryGroup = directory.st_gid
        }
        return .success(ServiceIdentity(uid: info.st_uid, gid: info.st_gid, directoryGroup: directoryGroup))
    }

    /// Parses `UID:GID` or `USER:GROUP` (names looked up; for the CLI and ExecStartPre, never
    /// the generator). nil when a name is unknown or the text is malformed.
    public static func parse(_ text: String) -> ServiceIdentity? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let uid: uid_t? = UInt32(parts[0]) ?? getpwnam(String(parts[0])).map { $0.pointee.pw_uid }
        let gid: gid_t? = UInt32(parts[1]) ?? getgrnam(String(parts[1])).map { $0.pointee.gr_gid }
        guard let uid, let gid else { return nil }
        return ServiceIdentity(uid: uid, gid: gid)
    }
}

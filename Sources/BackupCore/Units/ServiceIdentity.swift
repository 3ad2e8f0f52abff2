import FoundationEssentials
import Glibc
import SystemCalls

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
        let info: stat
        do { info = try Syscalls.status(database) } catch { return .failure(error) }
        var directoryGroup: gid_t?
        if let directory = try? Syscalls.status(FileSystem.parent(of: database)), directory.st_gid != info.st_gid,
            (directory.st_mode >> 3) & 0o7 > directory.st_mode & 0o7
        {
            directoryGroup = directory.st_gid
        }
        return .success(ServiceIdentity(uid: info.st_uid, gid: info.st_gid, directoryGroup: directoryGroup))
    }

    /// The identity recorded for the generator (see `record`), in the configuration directory.
    public static func recordFile(in configDirectory: String) -> String { "\(configDirectory)/service-identity" }

    /// Records this identity for `database`, so that a generator that runs before the
    /// database's file system is mounted (at boot, generators run before local mounts) still
    /// gives the services the database's owner. Written by root whenever it applies the
    /// configuration (init, apply, the services' ExecStartPre=+).
    public func record(in configDirectory: String, database: String) throws(SystemError) {
        let path = Self.recordFile(in: configDirectory)
        let text =
            "# Written by dbbackup as root: the owner and group of the database the services run as,\n"
            + "# for the generator when that database's file system is not mounted yet. Do not edit.\n"
            + "\(environmentValue)\(directoryGroup.map { ":\($0)" } ?? "") \(database)\n"
        if let current = try? FileSystem.readAll(path), current == Array(text.utf8) { return }
        try FileSystem.writeAtomically(Array(text.utf8), to: path, mode: 0o644)
    }

    /// The identity recorded for `database`, if the record is about that database.
    public static func recorded(in configDirectory: String, database: String) -> ServiceIdentity? {
        guard let data = try? FileSystem.readAll(recordFile(in: configDirectory)) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.firstIndex(of: " "), line[line.index(after: space)...] == database else { continue }
            let numbers = line[..<space].split(separator: ":").map { UInt32($0) }
            guard numbers.count == 2 || numbers.count == 3, let uid = numbers[0], let gid = numbers[1] else {
                return nil
            }
            return ServiceIdentity(uid: uid, gid: gid, directoryGroup: numbers.count == 3 ? numbers[2] : nil)
        }
        return nil
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

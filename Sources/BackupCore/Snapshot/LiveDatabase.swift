import FoundationEssentials
import Glibc
import SystemCalls

/// What opening the application's live database would do, looked at before SQLite opens it.
///
/// A reader of a WAL database needs its `-wal` and `-shm` files. When the application has the
/// database closed (a PHP or Python application opens it per request), SQLite creates them for
/// whoever opens it next: with the database file's mode, owned by that process, except that
/// root with CAP_CHOWN hands them to the database's owner and group. A backup that created them
/// under its own identity would lock the application out of its own database (`unable to open
/// database file`, `attempt to write a readonly database`). So a backup only opens the database
/// when any file it creates gets exactly the owner and group the application's own files have,
/// and otherwise fails, naming the owner and the fix. The services run as the database's owner
/// for this reason (see the generator).
public enum LiveDatabase {
    public struct Inspection: Sendable {
        public let owner: uid_t
        public let group: gid_t
        public let mode: mode_t
        /// The database is in WAL mode (its header says so).
        public let wal: Bool
        /// The side files an open would create (`-wal`, `-shm`); empty when it creates none.
        public let created: [String]
    }

    /// Why the database cannot be opened here: what and why, and the fix.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable { case missing, permission, notADatabase }
        public let kind: Kind
        public let message: String
        public var description: String { message }
    }

    /// Looks at `database` as `identity` would open it: can it reach and read the file, and
    /// would an open create side files the application could not use. Opens nothing with SQLite.
    public static func inspect(
        _ database: String, as identity: ProcessIdentity = .current()
    ) throws(Refusal) -> Inspection {
        let who = ProcessIdentity.describe(uid: identity.uid)
        var info = stat()
        switch PathAccess.lookup(database) {
        case .found(let found):
            info = found
        case .missing:
            if let hidden = PathAccess.hiddenBySandbox(database) {
                throw Refusal(kind: .permission, message: "database \(hidden)")
            }
            throw Refusal(
                kind: .missing,
                message: "database \(database) does not exist; check database.path in the main configuration")
        case .unreachable(let error):
            if let hidden = PathAccess.hiddenBySandbox(database) {
                throw Refusal(kind: .permission, message: "database \(hidden)")
            }
            let blocking = PathAccess.blockingAncestor(of: database).map { ": \($0) does not let it through" } ?? ""
            throw Refusal(
                kind: .permission,
                message:
                    "database \(database) cannot be reached by \(who) "
                    + "(\(String(cString: strerror(error))))\(blocking); "
                        + """
                        the services run as the database's owner once `dbbackup apply` has run; otherwise give \(who) \
                        access to the directories above it
                        """
            )
        }
        let fd: Int32
        switch Result(catching: { () throws(SystemError) in try FileSystem.open(database, O_RDONLY) }) {
        case .success(let opened):
            fd = opened
        case .failure(let error):
            throw Refusal(
                kind: .permission,
                message:
                    "database \(PathAccess.describe(database)) cannot be read by \(who) "
                    + "(\(SystemError.text(error.errno))); "
                        + """
                        the services run as the database's owner once `dbbackup apply` has run, or run this as \
                        \(ProcessIdentity.describe(uid: info.st_uid))
                        """
            )
        }
        let wal = isWAL(fd)
        FileSystem.close(fd)
        let created = wal ? ["-wal", "-shm"].filter { !FileSystem.exists(database + $0) } : []
        let inspection = Inspection(
            owner: info.st_uid, group: info.st_gid, mode: info.st_mode & 0o7777, wal: wal, created: created)
        if !created.isEmpty, let problem = sideFileProblem(database, inspection, identity) {
            throw Refusal(kind: .permission, message: problem)
        }
        return inspection
    }

    /// Whether the file at `path` begins as every SQLite database does ("SQLite format 3"), or
    /// is empty (SQLite's empty database); nil when it cannot be read.
    public static func isSQLite(_ path: String) -> Bool? {
        guard let fd = try? FileSystem.open(path, O_RDONLY) else { return nil }
        defer { FileSystem.close(fd) }
        var header = [UInt8](repeating: 0, count: 16)
        guard let count = header.withUnsafeMutableBytes({ try? Syscalls.read(fd, into: $0, path: path) }) else {
            return nil
        }
        return count == 0 || (count == 16 && header == Array("SQLite format 3\0".utf8))
    }

    /// Whether the database file's header says WAL mode (bytes 18 and 19, the write and read
    /// versions, are 2). False when it cannot be read or is not an SQLite database.
    public static func isWAL(_ database: String) -> Bool {
        guard let fd = try? FileSystem.open(database, O_RDONLY) else { return false }
        defer { FileSystem.close(fd) }
        return isWAL(fd)
    }

    static func isWAL(_ fd: Int32) -> Bool {
        var header = [UInt8](repeating: 0, count: 100)
        let count = header.withUnsafeMutableBytes { (try? Syscalls.read(fd, into: $0, at: 0, path: "database")) ?? 0 }
        guard count == 100, header.starts(with: Array("SQLite format 3".utf8) + [0]) else { return false }
        return header[18] == 2 && header[19] == 2
    }

    /// Why the side files an open would create would not be the application's (or could not be
    /// created at all), with the fix; nil when they would be exactly the application's.
    static func sideFileProblem(_ database: String, _ inspection: Inspection, _ identity: ProcessIdentity) -> String? {
        let directory = FileSystem.parent(of: database)
        let names = inspection.created.map { FileSystem.name(of: database) + $0 }.joined(separator: " and ")
        let opening = "reading \(database) (a WAL database that nobody has open right now) creates \(names) beside it"
        let owner = ProcessIdentity.describe(uid: inspection.owner)
        let fix =
            """
            run the backup as the database's owner: `dbbackup apply` makes the services run as it; by hand, run \
            it as that user or as root
            """
        let sqliteChowns = identity.uid == 0 && identity.canChown  // SQLite gives them to the database's owner itself.
        if !sqliteChowns && identity.uid != inspection.owner {
            return
                "\(opening), and they would belong to \(ProcessIdentity.describe(uid: identity.uid)), not to the "
                + "database's owner \(owner), "
                + "so the application could no longer write its database; nothing was created. Fix: \(fix)"
        }
        if case .fileSystem(let point)? = PathAccess.readOnly(directory) {
            return
                "\(opening), but the file system at \(point) is mounted read-only (SQLite cannot read a WAL "
                + "database there without them). "
                + "Remount it read-write (mount -o remount,rw \(point)); if it must stay read-only, take the "
                + "database out of WAL mode before "
                    + """
                    mounting it so (sqlite3 \(database) 'PRAGMA journal_mode=DELETE'), or keep its -wal and -shm \
                    files beside it
                    """
        }
        if let reason = PathAccess.unwritableReason(directory) {
            return "\(opening), but \(directory) \(reason)"
        }
        if sqliteChowns { return nil }
        // The owner is right; the group must be too, where the mode gives the group more than others.
        let groupMatters = (inspection.mode >> 3) & 0o7 != inspection.mode & 0o7
        let directoryInfo = try? Syscalls.status(directory)
        let inherited = directoryInfo.map { $0.st_mode & S_ISGID != 0 } == true ? directoryInfo!.st_gid : identity.gid
        guard !groupMatters || inherited == inspection.group else {
            return
                "\(opening), and they would get group \(ProcessIdentity.describe(gid: inherited)) instead of the "
                + "database's \(ProcessIdentity.describe(gid: inspection.group)) "
                + "(mode 0\(String(inspection.mode, radix: 8)) gives that group access), so the application's group "
                + "could no longer write them; nothing was created. "
                + "Fix: \(fix) (the services also take the database's group)"
        }
        return nil
    }
}

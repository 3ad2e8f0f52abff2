import FoundationEssentials
import Glibc
import SystemCalls

/// Why a path cannot be used, told apart as a sysadmin needs it: a path that does not exist,
/// one this user may not reach ("Permission denied" is never reported as "does not exist"),
/// a read-only mount, and the services' own sandbox (ProtectHome=, ProtectSystem=strict),
/// whose refusals look like the others but have another fix.
public enum PathAccess {
    /// What stat(2) says about a path.
    public enum Lookup: Sendable {
        case found(stat)
        case missing
        /// Permission denied (or another error) on the way: the path may well exist.
        case unreachable(errno: Int32)
    }

    public static func lookup(_ path: String) -> Lookup {
        do {
            return .found(try Syscalls.status(path))
        } catch {
            return error.isMissing ? .missing : .unreachable(errno: error.errno)
        }
    }

    /// The directories whose contents the systemd services cannot see with `ProtectHome=yes`
    /// (and see only through `BindPaths=` with `ProtectHome=tmpfs`).
    public static let protectedHomes = ["/home", "/root", "/run/user"]

    /// The `ProtectHome=` directory `path` lies in, if any.
    public static func protectedHome(of path: String) -> String? {
        protectedHomes.first { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// Whether this process runs as a systemd service (the manager sets INVOCATION_ID).
    public static var inService: Bool {
        ProcessInfo.processInfo.environment["INVOCATION_ID"].map { !$0.isEmpty } ?? false
    }

    /// When `path` is hidden by the service's `ProtectHome=` sandbox, the explanation and fix;
    /// nil otherwise. With `ProtectHome=yes` the directory is made inaccessible (mode 000);
    /// with `ProtectHome=tmpfs` it is an empty tmpfs holding only what `BindPaths=` put there.
    public static func hiddenBySandbox(_ path: String) -> String? {
        guard inService, let home = protectedHome(of: path) else { return nil }
        let hidden =
            (try? Syscalls.status(home)).map { $0.st_mode & 0o777 == 0 } ?? false
            || (mount(containing: home).map { $0.point == home && $0.type == "tmpfs" } ?? false)
        guard hidden else { return nil }
        return
            """
            \(path) is under \(home), which the service's sandbox (ProtectHome=) hides unless the generated \
            drop-in opens it; run: dbbackup apply
            """
    }

    /// The first directory on the way to `path` that this process may not search (x), with
    /// its owner and mode, e.g. `/srv/app (owner app, mode 0750)`; nil if none is found.
    public static func blockingAncestor(of path: String) -> String? {
        var prefix = ""
        for component in path.split(separator: "/").dropLast() {
            prefix += "/" + component
            if case .failure(let error) = Syscalls.access(prefix, X_OK), error.errno == EACCES {
                return describe(prefix)
            }
        }
        return nil
    }

    /// `PATH (owner app, group app, mode 0750)`, or just PATH if it cannot be looked at.
    public static func describe(_ path: String) -> String {
        guard let info = try? Syscalls.status(path) else { return path }
        return
            """
            \(path) (owner \(ProcessIdentity.userName(info.st_uid) ?? String(info.st_uid)), group \
            \(groupName(info.st_gid)), mode 0\(String(info.st_mode & 0o7777, radix: 8)))
            """
    }

    static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return String(gid) }
        return String(cString: name)
    }

    /// Why the mount holding `path` is read-only, or nil when it is not.
    public enum ReadOnly: Sendable, Equatable {
        /// The file system itself is mounted read-only.
        case fileSystem(mountPoint: String)
        /// Only this mount of it is read-only: in a service, its sandbox (`ProtectSystem=strict`
        /// without a `ReadWritePaths=` for it); elsewhere a read-only bind mount.
        case thisMount(mountPoint: String)
    }

    public static func readOnly(_ path: String) -> ReadOnly? {
        var fs = statvfs()
        guard statvfs(existingAncestor(of: path), &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0 else { return nil }
        guard let mount = mount(containing: path) else { return .fileSystem(mountPoint: "/") }
        return mount.superReadOnly ? .fileSystem(mountPoint: mount.point) : .thisMount(mountPoint: mount.point)
    }

    /// The mount `path` lies in, as this process's mount namespace has it (a service's sandbox
    /// included): its mount point, file system type, and whether the file system itself (the
    /// super block, not just this mount) is read-only.
    static func mount(containing path: String) -> (point: String, type: String, superReadOnly: Bool)? {
        // /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT MOUNTOPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
        guard let text = try? FileSystem.readAll("/proc/self/mountinfo") else { return nil }
        var best: (point: String, type: String, superReadOnly: Bool)?
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10, let dash = fields.firstIndex(of: "-"), dash + 3 < fields.count else { continue }
            let point = unescapeMountinfo(String(fields[4]))
            guard path == point || point == "/" || path.hasPrefix(point + "/") else { continue }
            // Later lines of the same mount point are mounted over the earlier ones.
            if let best, best.point.count > point.count { continue }
            best = (point, String(fields[dash + 1]), fields[dash + 3].split(separator: ",").contains("ro"))
        }
        return best
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescapeMountinfo(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "\\"), iterator.count >= 3,
                let value = UInt8(String(decoding: iterator.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `path` itself, or its nearest ancestor that exists.
    public static func existingAncestor(of path: String) -> String {
        var current = path
        while current != "/" && !current.isEmpty {
            if (try? Syscalls.status(current)) != nil { return current }
            current = FileSystem.parent(of: current)
        }
        return "/"
    }

    /// Why this process cannot create files in the existing directory `directory`, with the
    /// fix, or nil when it can; phrased to follow the directory's name ("is ..."). A read-only
    /// file system, the services' sandbox and permissions each get their own fix.
    public static func unwritableReason(_ directory: String) -> String? {
        guard case .failure(let failure) = Syscalls.access(directory, W_OK | X_OK) else { return nil }
        let error = failure.errno
        if error == EROFS {
            switch readOnly(directory) {
            case .thisMount(let point)? where inService:
                return
                    """
                    is read-only in the service's sandbox (ProtectSystem=strict: \(point) is not among the \
                    generated ReadWritePaths=); run: dbbackup apply
                    """
            case .thisMount(let point)?:
                return "is on a read-only mount (\(point)); remount it read-write, or choose another directory"
            case .fileSystem(let point)?:
                return
                    """
                    is on a read-only file system (mounted at \(point)); remount it read-write (mount -o \
                    remount,rw \(point)), or choose another directory
                    """
            case nil:
                return "is on a read-only file system; remount it read-write, or choose another directory"
            }
        }
        if let hidden = hiddenBySandbox(directory) { return "cannot be reached: \(hidden)" }
        let who = ProcessIdentity.describe(uid: geteuid())
        guard error == EACCES || error == EPERM else {
            return "cannot be written by \(who): \(String(cString: strerror(error)))"
        }
        return "is not writable by \(who): \(describe(directory)); fix its owner or mode"
    }
}

import FoundationEssentials
import Glibc
import SystemCalls

/// Who this process is to the kernel's permission checks: its effective user and group, its
/// supplementary groups, and whether it may give a file to another user (CAP_CHOWN). Root in
/// the services' sandbox has no capabilities at all (`CapabilityBoundingSet=`): uid 0 alone
/// says nothing about what it may do.
public struct ProcessIdentity: Sendable, Equatable {
    public let uid: uid_t
    public let gid: gid_t
    public let groups: [gid_t]
    public let canChown: Bool

    public init(uid: uid_t, gid: gid_t, groups: [gid_t] = [], canChown: Bool = false) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.canChown = canChown
    }

    public static func current() -> ProcessIdentity {
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
        if count > 0 { _ = getgroups(count, &groups) }
        // Capability 0 is CAP_CHOWN.
        return ProcessIdentity(uid: geteuid(), gid: getegid(), groups: groups, canChown: hasEffectiveCapability(0))
    }

    /// Whether a capability is in this process's effective set, from the `CapEff:` line of
    /// /proc/self/status (readable under `ProcSubset=pid` too). Unknown counts as absent.
    static func hasEffectiveCapability(_ bit: Int) -> Bool {
        guard let status = try? FileSystem.readAll("/proc/self/status") else { return false }
        for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("CapEff:") {
            guard let mask = UInt64(line.dropFirst("CapEff:".count).trimmed, radix: 16) else { return false }
            return mask & (1 << UInt64(bit)) != 0
        }
        return false
    }

    public func isMember(of group: gid_t) -> Bool { gid == group || groups.contains(group) }

    /// `app (uid 1500)`, or `uid 1700` for a uid without a user entry: for messages. In the
    /// services' user namespace (PrivateUsers=yes maps root and the service's own user only),
    /// every other owner reads as the overflow uid 65534, which is said as such.
    public static func describe(uid: uid_t) -> String {
        if uid == 65534 && inUserNamespace {
            return "a user that the service's sandbox does not show (PrivateUsers=yes)"
        }
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }

    /// Whether this process runs in a user namespace of its own (the services' PrivateUsers=yes):
    /// its uid map is not the whole identity map of the host.
    public static var inUserNamespace: Bool {
        guard let map = try? FileSystem.readAll("/proc/self/uid_map") else { return false }
        let fields = String(decoding: map, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields != ["0", "0", "4294967295"]
    }

    /// The user name of a uid, if it has one.
    public static func userName(_ uid: uid_t) -> String? {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// `app (gid 1500)`, or `gid 1700`.
    public static func describe(gid: gid_t) -> String {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return "gid \(gid)" }
        return "\(String(cString: name)) (gid \(gid))"
    }
}

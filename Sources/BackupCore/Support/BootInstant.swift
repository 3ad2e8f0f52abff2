import Glibc
import SystemCalls

/// A moment on the clock that counts from boot (CLOCK_BOOTTIME: suspend included, and nobody
/// can set it), with the boot it belongs to. Between two of the same boot lies the time that
/// truly passed, whatever the wall clock was set to meanwhile: a clock stepped back or forward
/// (NTP after a dead RTC, a sysadmin's `date -s`) does not move it.
public struct BootInstant: Sendable, Equatable {
    /// The boot's id, 32 hex digits as systemd's `%b` writes it (see `bootID()`): new at every boot.
    public var bootID: String
    /// Milliseconds since that boot.
    public var milliseconds: Int64

    public init(bootID: String, milliseconds: Int64) {
        self.bootID = bootID
        self.milliseconds = milliseconds
    }

    /// Now, or nil where nothing says which boot this is.
    public static func now() -> BootInstant? {
        guard let id = bootID() else { return nil }
        var spec = timespec()
        guard clock_gettime(CLOCK_BOOTTIME, &spec) == 0 else { return nil }
        return BootInstant(bootID: id, milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    /// The boot's id as systemd sees it: `$DBBACKUP_BOOT_ID`, which the services set to `%b`
    /// (their sandbox hides `/proc/sys`, and in a container a fresh `/proc` would show the
    /// host's boot, not the container's), else the kernel's, as a shell sees it.
    static func bootID() -> String? {
        if let value = getenv("DBBACKUP_BOOT_ID") {
            let id = String(cString: value)
            if !id.isEmpty { return id }
        }
        guard let text = try? FileSystem.readText("/proc/sys/kernel/random/boot_id", limit: 64) else { return nil }
        let id = String(text.filter { $0 != "-" && !$0.isWhitespace })
        return id.isEmpty ? nil : id
    }

    /// The milliseconds that passed from this moment to `later`, when both are of one boot.
    public func milliseconds(until later: BootInstant) -> Int64? {
        later.bootID == bootID ? later.milliseconds - milliseconds : nil
    }
}

import CSystemd
import Glibc
import SystemCalls

/// Whether a file descriptor (stderr by default) is the stream systemd connected to
/// the journal: `JOURNAL_STREAM=DEV:INODE` names it (systemd.exec(5)), and the fd's
/// st_dev/st_ino must match, so a redirected stderr of a child is not mistaken for it.
public enum JournalStream {
    public static func isConnected(
        fd: Int32 = STDERR_FILENO, journalStream: String? = environment("JOURNAL_STREAM")
    ) -> Bool {
        guard let journalStream, let (device, inode) = parse(journalStream) else { return false }
        guard let info = try? Syscalls.status(of: fd, path: "standard error") else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// "DEV:INODE" in decimal, as systemd writes it.
    static func parse(_ value: String) -> (UInt64, UInt64)? {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return (device, inode)
    }

    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

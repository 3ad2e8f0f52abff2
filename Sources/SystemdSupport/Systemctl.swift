import FoundationEssentials
import Glibc
import SystemCalls

/// What dbbackup asks of a running systemd through systemctl(1).
public enum Systemctl {
    /// sd_booted(3): the system was booted with systemd as PID 1.
    public static var isBooted: Bool { FileSystem.isDirectory("/run/systemd/system") }

    static let path =
        ["/usr/bin/systemctl", "/bin/systemctl"].first { (try? Syscalls.access($0, X_OK).get()) != nil }
        ?? "/usr/bin/systemctl"

    /// Runs `systemctl --no-pager ARGUMENTS` and collects its status and output.
    @discardableResult
    public static func run(_ arguments: String...) throws -> Subprocess.Result {
        try run(arguments)
    }

    public static func run(_ arguments: [String]) throws -> Subprocess.Result {
        try Subprocess.run(path, ["--no-pager"] + arguments)
    }

    /// Next elapse of every timer whose name matches `pattern`, in microseconds since the
    /// epoch, from `systemctl list-timers --output=json`; empty where systemd does not run.
    public static func nextElapses(of pattern: String) -> [String: Int64] {
        struct Timer: Decodable {
            let unit: String
            let next: Int64?
        }
        guard isBooted, let result = try? run("list-timers", "--all", "--output=json", pattern), result.status == 0,
            let timers = try? JSONDecoder().decode([Timer].self, from: Data(result.stdout.utf8))
        else { return [:] }
        var next: [String: Int64] = [:]
        for timer in timers {
            guard let usec = timer.next, usec > 0 else { continue }
            next[timer.unit] = usec
        }
        return next
    }
}

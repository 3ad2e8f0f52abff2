import Glibc

/// Runs a program and collects its output: posix_spawn, two pipes read with poll(2) so a
/// chatty child never blocks on a full pipe, and waitpid (EINTR retried).
public enum Subprocess {
    public struct Result {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let program: String
        public let errno: Int32
        public var description: String { "cannot run \(program): \(String(cString: strerror(errno)))" }
    }

    /// `environment` nil keeps this process's environment. Standard input is /dev/null.
    public static func run(
        _ program: String, _ arguments: [String], environment: [String: String]? = nil
    ) throws -> Result {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw Failure(program: program, errno: errno) }
        // Only the dup2'ed copies may reach the child.
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)

        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned =
            envp.map { posix_spawn(&pid, program, &actions, nil, argv, $0) }
            ?? posix_spawn(&pid, program, &actions, nil, argv, environ)
        close(out[1])
        close(err[1])
        defer {
            close(out[0])
            close(err[0])
        }
        guard spawned == 0 else { throw Failure(program: program, errno: spawned) }

        var collected: [[UInt8]] = [[], []]
        var fds = [
            pollfd(fd: out[0], events: Int16(POLLIN), revents: 0),
            pollfd(fd: err[0], events: Int16(POLLIN), revents: 0),
        ]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            guard (try? Syscalls.retryingEINTR("poll", program, { poll(&fds, nfds_t(fds.count), -1) })) != nil else {
                break
            }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes {
                    (try? Syscalls.read(fds[index].fd, into: $0, path: program)) ?? 0
                }
                if count > 0 {
                    collected[index] += buffer[0..<count]
                } else {
                    fds[index].fd = -1
                }
            }
        }
        var status: Int32 = 0
        _ = try? Syscalls.retryingEINTR("waitpid", program) { waitpid(pid, &status, 0) }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(
            status: exit, stdout: String(decoding: collected[0], as: UTF8.self),
            stderr: String(decoding: collected[1], as: UTF8.self))
    }
}

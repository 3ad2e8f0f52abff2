import CLinux
import Foundation

/// Runs programs for the tests with posix_spawn and waitpid. Foundation's Process was seen to
/// hang in waitUntilExit when several tests wait at once, and passes the test runner's blocked
/// signals on to children. Standard streams go through temporary files, so a daemon a script
/// leaves running cannot hold a pipe (and the call) open.
public enum Spawn {
    public struct Result: Sendable {
        public let status: Int32
        /// Set when the child was killed by a signal.
        public let signal: Int32?
        public let stdout: String
        public let stderr: String
        public var output: String { stdout + stderr }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A started child; `wait()` reaps it once.
    public final class Child: @unchecked Sendable {
        public let pid: pid_t
        let directory: URL

        init(pid: pid_t, directory: URL) {
            self.pid = pid
            self.directory = directory
        }

        public func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }

        public func wait() -> Result {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            defer { try? FileManager.default.removeItem(at: directory) }
            let read = { (name: String) in
                (try? String(contentsOf: self.directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
            }
            let signalled = (status & 0x7f) != 0
            return Result(
                status: signalled ? 128 + (status & 0x7f) : (status >> 8) & 0xff,
                signal: signalled ? status & 0x7f : nil, stdout: read("stdout"), stderr: read("stderr"))
        }
    }

    /// Starts `executable` (looked up in PATH when not a path) with `arguments`; `environment`
    /// nil inherits this process's; `workingDirectory` nil keeps this process's.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        input: String = "", workingDirectory: String? = nil
    ) throws -> Child {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        try Data(input.utf8).write(to: URL(fileURLWithPath: path("stdin")))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, path("stdin"), O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, path("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let workingDirectory { dbb_spawn_add_chdir(&actions, workingDirectory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid = pid_t()
        let spawned =
            envp.map { posix_spawnp(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            try? FileManager.default.removeItem(at: directory)
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        return Child(pid: pid, directory: directory)
    }

    /// Runs to completion.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        input: String = "", workingDirectory: String? = nil
    ) throws -> Result {
        try start(executable, arguments, environment: environment, input: input, workingDirectory: workingDirectory)
            .wait()
    }
}

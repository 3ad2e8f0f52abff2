import Glibc
import SystemdSupport
import Testing

/// A bound AF_UNIX datagram socket standing in for the service manager's NOTIFY_SOCKET.
private final class NotifySocket {
    let fd: Int32
    let path: String

    init() throws {
        path = "/tmp/systemd-support-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0)
    }

    /// The datagram sd_notify sent (it is already queued: sendmsg returned).
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

extension ProcessStateTests {
    @Suite struct Notify {
        @Test func sendsLinesToNotifySocket() throws {
            let socket = try NotifySocket()
            setenv("NOTIFY_SOCKET", socket.path, 1)
            defer { unsetenv("NOTIFY_SOCKET") }
            let sent = try SystemdNotifier.notify(
                .status("copying\nnext line"), .extendTimeout(microseconds: 5_000_000), .ready)
            #expect(sent)
            #expect(socket.receive() == "STATUS=copying next line\nEXTEND_TIMEOUT_USEC=5000000\nREADY=1")
        }

        @Test func withoutServiceManagerReportsNotSent() throws {
            unsetenv("NOTIFY_SOCKET")
            #expect(try SystemdNotifier.notify(.status("x")) == false)
        }

        @Test func unreachableSocketIsAnError() throws {
            setenv("NOTIFY_SOCKET", "/nonexistent/dbbackup-notify.sock", 1)
            defer { unsetenv("NOTIFY_SOCKET") }
            let error = try #require(throws: SystemdError.self) { try SystemdNotifier.notify(.ready) }
            #expect(error.code == .notifyFailed)
            #expect(error.errno == ENOENT)
        }

        @Test func rejectsMalformedCustomLines() throws {
            let error = try #require(throws: SystemdError.self) {
                try SystemdNotifier.notify(.custom(key: "A=B", value: "x"))
            }
            #expect(error.code == .invalidNotifyMessage)
        }
    }
}

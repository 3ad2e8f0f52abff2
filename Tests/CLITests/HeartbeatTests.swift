import BackupCore
import Foundation
import TestKit
import Testing

/// A small HTTP server on 127.0.0.1 (Python's http.server) that records every request and
/// answers as told: `ok` (200), `error` (500), `missing` (404) or `hang` (never answers).
final class PingServer {
    let child: Spawn.Child
    let directory: String
    let port: Int

    struct Request: Equatable {
        let path: String
        let body: String
    }

    init(mode: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ping-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = """
            import http.server, json, sys, time
            directory, mode = sys.argv[1], sys.argv[2]
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                    with open(directory + "/requests", "a") as log:
                        log.write(json.dumps({"path": self.path, "body": body}) + "\\n")
                    if mode == "hang":
                        time.sleep(60)
                        return
                    self.send_response({"ok": 200, "error": 500, "missing": 404}[mode])
                    self.end_headers()
                    self.wfile.write(b"OK")
                def log_message(self, *args):
                    pass
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            with open(directory + "/port.tmp", "w") as f:
                f.write(str(server.server_address[1]))
            import os; os.rename(directory + "/port.tmp", directory + "/port")
            server.serve_forever()
            """
        child = try Spawn.start("python3", ["-c", script, directory, mode])
        var port: Int?
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: "\(directory)/port", encoding: .utf8), let number = Int(text) {
                port = number
                break
            }
            usleep(10_000)
        }
        guard let port else {
            child.kill()
            _ = child.wait()
            throw PingServerError()
        }
        self.port = port
    }

    deinit {
        child.kill()
        _ = child.wait()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var url: String { "http://127.0.0.1:\(port)" }

    var requests: [Request] {
        let text = (try? String(contentsOfFile: "\(directory)/requests", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String] else {
                return nil
            }
            return Request(path: object["path"] ?? "", body: object["body"] ?? "")
        }
    }
}

struct PingServerError: Error, CustomStringConvertible {
    var description: String { "the ping server did not start" }
}

@Suite("Heartbeat pings", .serialized)
struct HeartbeatTests {
    /// Adds `[monitoring]` settings (and any other tables after them) to the main file.
    func withMonitoring(_ cli: CLI, _ table: String) throws {
        let file = "\(cli.configDirectory)/dbbackup.toml"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        try (text + "\n[monitoring]\n" + table + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }

    @Test("a run pings URL/start, then URL on success or URL/fail with the error in the body")
    func startSuccessFail() throws {
        let server = try PingServer(mode: "ok")
        let cli = try CLI.initialized()
        try cli.addRegistration("pre", "--heartbeat-url", "\(server.url)/ping/abc-123")
        #expect(try cli.json("registration", "show", "pre", "--json") as? [String: Any] != nil)
        #expect(
            cli.file("\(cli.configDirectory)/registrations.d/pre.toml")?.contains(
                "heartbeat_url = '\(server.url)/ping/abc-123'") == true)

        let stored = try cli("run", "pre")
        #expect(stored.status == 0, "\(stored.output)")
        #expect(server.requests.map(\.path) == ["/ping/abc-123/start", "/ping/abc-123"])
        #expect(server.requests.last?.body.hasPrefix("pre: stored ") == true, "\(server.requests)")

        try FileManager.default.removeItem(atPath: cli.database)
        let failed = try cli("run", "pre")
        #expect(failed.status == ExitStatus.snapshot.code)
        #expect(server.requests.map(\.path).suffix(2) == ["/ping/abc-123/start", "/ping/abc-123/fail"])
        #expect(
            server.requests.last?.body.contains("pre: database \(cli.database) does not exist") == true,
            "\(server.requests)")
    }

    @Test("a global URL serves every registration without its own, {registration} naming it; an empty URL turns it off")
    func globalURL() throws {
        let server = try PingServer(mode: "ok")
        let cli = try CLI.initialized()
        try withMonitoring(cli, "heartbeat_url = \"\(server.url)/key/{registration}\"")
        try cli.addRegistration("pre")
        try cli.addRegistration("quiet", path: "q", "--heartbeat-url", "")
        #expect(try cli("run", "--trigger", "migration").status == 0)
        #expect(server.requests.map(\.path) == ["/key/pre/start", "/key/pre"])
        // The global table survives the CLI rewriting the main file.
        #expect(try cli("retention", "set", "--local", "3").status == 0)
        #expect(
            cli.file("\(cli.configDirectory)/dbbackup.toml")?.contains(
                "heartbeat_url = '\(server.url)/key/{registration}'") == true)
        #expect(try cli("config", "check").stdout.contains("configuration OK"))
    }

    @Test(
        "a server that fails or never answers costs at most three bounded attempts per ping and never fails the backup")
    func failingServer() throws {
        for mode in ["error", "hang"] {
            let server = try PingServer(mode: mode)
            let cli = try CLI.initialized()
            try withMonitoring(cli, "heartbeat_timeout = 1")
            try cli.addRegistration("pre", "--heartbeat-url", "\(server.url)/ping/SECRET-CHECK-KEY")
            let started = Date()
            let run = try cli("run", "pre")
            let seconds = Date().timeIntervalSince(started)
            #expect(run.status == 0, "\(mode): \(run.output)")
            #expect(seconds < 15, "\(mode): the run took \(seconds) s")
            #expect(
                server.requests.map(\.path) == Array(repeating: "/ping/SECRET-CHECK-KEY/start", count: 3)
                    + Array(repeating: "/ping/SECRET-CHECK-KEY", count: 3),
                "\(mode): \(server.requests)")
            #expect(
                run.stderr.contains("heartbeat: the start ping to \(server.url)/… failed 3 times"),
                "\(mode): \(run.stderr)")
            #expect(run.stderr.contains("The backup itself is not affected"))
            #expect(!run.output.contains("SECRET-CHECK-KEY"), "the URL's path is its key: \(run.output)")
        }
    }

    @Test("a refused URL is not retried; a failing S3 run's ping carries the error, never the secret key")
    func refusedAndNoSecret() throws {
        let missing = try PingServer(mode: "missing")
        let cli = try CLI.initialized()
        try cli.addRegistration("pre", "--heartbeat-url", "\(missing.url)/gone")
        let run = try cli("run", "pre")
        #expect(run.status == 0)
        #expect(missing.requests.map(\.path) == ["/gone/start", "/gone"])
        #expect(run.stderr.contains("was refused (HTTP 404); check the heartbeat URL"), "\(run.stderr)")

        let server = try PingServer(mode: "ok")
        let secret = "hb-S3cret-never-sent-9f2c7a"
        let added = try cli(
            "registration", "add", "offsite", "--provider", "s3", "--bucket", "app-backups", "--endpoint",
            "http://127.0.0.1:9",
            "--force-path-style", "--access-key", "AGENT", "--secret-key-stdin", "--schedule", "migration",
            "--heartbeat-url", "\(server.url)/s3", input: secret + "\n")
        #expect(added.status == 0, "\(added.output)")
        // One attempt at the closed port, so the run fails at once.
        try withMonitoring(cli, "heartbeat_timeout = 2\n[s3]\nmax_attempts = 1")
        let failed = try cli("run", "offsite")
        #expect(failed.status == ExitStatus.store.code, "\(failed.output)")
        #expect(server.requests.map(\.path) == ["/s3/start", "/s3/fail"])
        #expect(server.requests.last?.body.hasPrefix("offsite: ") == true)
        #expect(server.requests.allSatisfy { !$0.body.contains(secret) })
    }
}

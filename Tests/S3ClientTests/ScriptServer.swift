import Foundation

/// A server of scripts/s3 run for one test: `python3 scripts/s3/SCRIPT ARGUMENTS… LOG_FILE OPTIONS…
/// --owner-pid PID`. The script prints the port it listens on as stdout's first line and writes a
/// line per request to LOG_FILE; it stops when this object goes (or the test process ends), and
/// the log goes with it.
class ScriptServer {
    let process = Process()
    let port: Int
    let log: URL
    let scheme: String

    /// `logPrefix` names the log file in the temporary directory; `scheme` is "https" for a
    /// script told to listen with TLS.
    init(script: String, arguments: [String], options: [String] = [], logPrefix: String, scheme: String = "http") throws
    {
        self.scheme = scheme
        log = FileManager.default.temporaryDirectory.appendingPathComponent("\(logPrefix)-\(UUID().uuidString).log")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", TestSupport.script(script)] + arguments + [log.path] + options
            + ["--owner-pid", String(getpid())]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw ServerUnavailable(description: "\(script) exited early") }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw ServerUnavailable(description: "\(script) printed no port")
        }
        self.port = port
    }

    var endpoint: String { "\(scheme)://127.0.0.1:\(port)" }

    /// The lines of the log, one per request seen.
    var requests: [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }
}

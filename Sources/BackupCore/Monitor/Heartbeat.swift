import Glibc
import S3Client
import SystemCalls

/// Pings a registration's heartbeat URL as healthchecks.io (and compatible services) expect:
/// `URL/start` when a run starts, `URL` when it stored its backup, `URL/fail` with the error
/// in the body when it failed. A service that hears nothing raises the alarm on its own, so
/// even a host that is down or a timer that never fires is noticed.
///
/// A ping never fails or holds up a backup for long: at most three attempts of at most
/// `heartbeat_timeout` seconds each. Only the error message of a failure is sent (never a
/// secret: run errors name files and settings, not secret values); the log shows only the
/// URL's scheme and host, since its path is often the check's key.
public struct Heartbeat: Sendable {
    public enum Signal: Sendable {
        case start
        case success(String)
        case failure(String)
    }

    public let url: String
    public let timeout: Duration
    static let attempts = 3

    public init?(registration: Registration, settings: MonitorSettings) {
        guard let url = settings.heartbeatURL(for: registration) else { return nil }
        self.url = url
        self.timeout = .seconds(settings.heartbeatTimeoutSeconds)
    }

    /// Sends one signal; `warn` hears about a ping that did not arrive.
    public func ping(_ signal: Signal, warn: (String) -> Void) {
        let (target, body, what) =
            switch signal {
            case .start: (Self.endpoint(url, suffix: "start"), "", "start")
            case .success(let summary): (url, summary, "success")
            case .failure(let error): (Self.endpoint(url, suffix: "fail"), error, "failure")
            }
        var last = ""
        for attempt in 1...Self.attempts {
            switch SimpleHTTP.post(target, body: String(body.prefix(10_000)), timeout: timeout) {
            case .answered(let status) where (200..<300).contains(status):
                return
            case .answered(let status) where (400..<500).contains(status) && status != 429:
                // The URL is wrong; asking again will not help.
                warn(
                    """
                    heartbeat: the \(what) ping to \(Self.redacted(url)) was refused (HTTP \(status)); check the \
                    heartbeat URL. The backup itself is not affected
                    """
                )
                return
            case .answered(let status):
                last = "HTTP \(status)"
            case .failed(let message):
                last = message
            }
            if attempt < Self.attempts { Syscalls.sleep(for: .milliseconds(500 * attempt)) }
        }
        warn(
            """
            heartbeat: the \(what) ping to \(Self.redacted(url)) failed \(Self.attempts) times (last: \(last)). \
            The backup itself is not affected
            """
        )
    }

    /// `URL/suffix`, keeping a query string at the end: `https://h/p?rid=1` → `https://h/p/start?rid=1`.
    static func endpoint(_ url: String, suffix: String) -> String {
        let (base, query) = url.firstIndex(of: "?").map { (String(url[..<$0]), String(url[$0...])) } ?? (url, "")
        return (base.hasSuffix("/") ? base : base + "/") + suffix + query
    }

    /// `https://hc-ping.com/…`: no user, password, path or query, which may hold the key.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return "(heartbeat URL)" }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@").last.map(String.init) ?? ""
        return url[..<schemeEnd.upperBound] + host + "/…"
    }
}

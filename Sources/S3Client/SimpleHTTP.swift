/// One small HTTP request outside S3, through the same libcurl wrapper (heartbeat pings):
/// bounded in time, TLS verified against the system's CAs, redirects not followed.
public enum SimpleHTTP {
    public enum Outcome: Sendable, Equatable {
        /// The server answered with this HTTP status.
        case answered(Int)
        /// No answer: connection refused, DNS, TLS, timeout. libcurl's message.
        case failed(String)
    }

    /// POSTs `body` (text) to `url`; the whole request takes at most `timeout`.
    public static func post(_ url: String, body: String, timeout: Duration) -> Outcome {
        let request = HTTPRequest(
            method: "POST", url: url, headers: [("Content-Type", "text/plain; charset=utf-8")],
            body: .bytes(Array(body.utf8)), totalTimeout: timeout)
        let policy = TransferPolicy(connectTimeout: min(timeout, .seconds(10)), lowSpeedLimit: 1, lowSpeedTime: timeout)
        switch CurlEasy().perform(request, policy: policy, progress: nil) {
        case .response(let response): return .answered(response.status)
        case .transportFailure(_, let message): return .failed(message)
        case .localFailure(let message): return .failed(message)
        }
    }
}

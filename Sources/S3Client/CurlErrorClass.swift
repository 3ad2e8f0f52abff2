import CCurl

/// Which libcurl errors are worth another attempt.
///
/// Transient (retried with backoff):
/// - `CURLE_COULDNT_RESOLVE_HOST`, `CURLE_COULDNT_CONNECT`: DNS or the server may be briefly
///   away (network not up yet after boot, server restarting); a wrong endpoint still fails after
///   the bounded attempts, with the unreachable-endpoint hint.
/// - `CURLE_OPERATION_TIMEDOUT`: connect timeout or the low-speed limit (a stalled connection).
/// - `CURLE_SEND_ERROR`, `CURLE_RECV_ERROR`, `CURLE_GOT_NOTHING`, `CURLE_PARTIAL_FILE`:
///   connection reset or closed mid-request.
/// - `CURLE_SSL_CONNECT_ERROR`: the TLS handshake broke off (resets during the handshake).
/// - `CURLE_HTTP2`, `CURLE_HTTP2_STREAM`: an HTTP/2 connection or stream was torn down.
///
/// Everything else is permanent: malformed URL, unsupported protocol, certificate verification
/// failures (`CURLE_PEER_FAILED_VERIFICATION`, bad CA file), local read/write errors and aborts.
enum CurlErrorClass {
    static func isTransient(_ code: Int) -> Bool {
        [
            CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
            CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2,
            CURLE_HTTP2_STREAM,
        ].contains { Int($0.rawValue) == code }
    }

    static func isUnreachable(_ code: Int) -> Bool {
        [CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT]
            .contains { Int($0.rawValue) == code }
    }

    static func isTLSVerification(_ code: Int) -> Bool {
        [CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM]
            .contains { Int($0.rawValue) == code }
    }
}

/// `curl_global_init`, exactly once per process, before the first handle (thread-safe: a Swift
/// global is initialised once under `swift_once`).
enum CurlGlobal {
    private static let result: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    static func ensureInitialized() {
        precondition(result == CURLE_OK, "curl_global_init failed: \(String(cString: curl_easy_strerror(result)))")
    }
}

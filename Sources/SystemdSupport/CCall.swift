import Glibc

/// Calls a C function that follows the systemd convention (negative errno on failure),
/// retrying while it reports EINTR. Every libsystemd call goes through here.
@discardableResult
func callRetryingEINTR(_ body: () -> Int32) -> Int32 {
    while true {
        let result = body()
        if result != -EINTR { return result }
    }
}

/// `strerror` text for an errno value.
func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

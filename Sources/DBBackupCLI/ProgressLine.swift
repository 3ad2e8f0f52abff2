import BackupCore
import Glibc
import SystemCalls

/// The progress line a person sees on a terminal: `nightly: snapshot 45%`.
enum ProgressLine {
    static let enabled = isatty(STDERR_FILENO) == 1

    static func observer() -> RunObserver {
        guard enabled else { return RunObserver() }
        return RunObserver(
            step: { registration, text in show("\(registration): \(text)") },
            progress: { registration, text, fraction in show("\(registration): \(text) \(Int(fraction * 100))%") })
    }

    static func show(_ text: String) {
        try? FileSystem.writeAll(STDERR_FILENO, Array("\r\u{1B}[K\(text)".utf8), path: "standard error")
    }

    static func clear() {
        if enabled { show("") }
    }
}

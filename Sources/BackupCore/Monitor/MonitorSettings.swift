/// Monitoring settings of the main file, `[monitoring]`:
///
///     [monitoring]
///     grace_minutes = 60            # a scheduled run may finish this late before status --check calls it overdue
///     heartbeat_url = "https://hc-ping.com/KEY/{registration}"   # for every registration without its own
///     heartbeat_timeout = 10        # seconds per ping attempt
///
/// and a registration's own `heartbeat_url` (`""`: none, even with a global one).
public struct MonitorSettings: Sendable, Equatable {
    public static let defaultGraceMinutes = 60
    public static let defaultHeartbeatTimeout = 10

    public var graceMinutes = defaultGraceMinutes
    /// Pinged for every registration without a `heartbeat_url` of its own; `{registration}`
    /// becomes the registration's name (healthchecks.io's slug URLs).
    public var heartbeatURL: String?
    public var heartbeatTimeoutSeconds = defaultHeartbeatTimeout

    public init() {}

    /// The heartbeat URL of a registration: its own, else the global one; nil for none.
    public func heartbeatURL(for registration: Registration) -> String? {
        let url = registration.heartbeatURL ?? heartbeatURL
        guard let url, !url.isEmpty else { return nil }
        return url.replacing("{registration}", with: registration.name)
    }

    /// Reads `[monitoring]` of the main file (called by `ConfigCodec.readMain`).
    static func read(_ root: inout TableReader, sink: ProblemSink) -> MonitorSettings {
        var settings = MonitorSettings()
        guard var section = root.table("monitoring", example: "{ grace_minutes = 60 }") else { return settings }
        if let grace = section.integer("grace_minutes", example: "60") {
            if (0...10_080).contains(grace) {
                settings.graceMinutes = grace
            } else {
                sink.error(
                    "monitoring.grace_minutes", String(grace), "must be between 0 and 10080 (a week)",
                    fix: "e.g. 60; it should cover how long a run takes")
            }
        }
        if let url = section.string("heartbeat_url", example: "\"https://hc-ping.com/KEY/{registration}\"") {
            settings.heartbeatURL = url
            checkURL(url, field: "monitoring.heartbeat_url", sink: sink)
        }
        if let timeout = section.integer("heartbeat_timeout", example: "10") {
            if (1...120).contains(timeout) {
                settings.heartbeatTimeoutSeconds = timeout
            } else {
                sink.error(
                    "monitoring.heartbeat_timeout", String(timeout), "must be between 1 and 120 seconds", fix: "e.g. 10"
                )
            }
        }
        section.rejectUnknownKeys()
        return settings
    }

    static func render(_ settings: MonitorSettings, into table: inout [String: ConfigValue]) {
        var section: [String: ConfigValue] = [:]
        if settings.graceMinutes != defaultGraceMinutes { section["grace_minutes"] = .integer(settings.graceMinutes) }
        if let url = settings.heartbeatURL { section["heartbeat_url"] = .string(url) }
        if settings.heartbeatTimeoutSeconds != defaultHeartbeatTimeout {
            section["heartbeat_timeout"] = .integer(settings.heartbeatTimeoutSeconds)
        }
        if !section.isEmpty { table["monitoring"] = .table(section) }
    }

    /// Reads a registration's `heartbeat_url` (called by `ConfigCodec.readRegistration`).
    static func readHeartbeat(_ root: inout TableReader, sink: ProblemSink) -> String? {
        guard let url = root.string("heartbeat_url", example: "\"https://hc-ping.com/UUID\"") else { return nil }
        checkURL(url, field: "heartbeat_url", sink: sink)
        return url
    }

    static func checkURL(_ url: String, field: String, sink: ProblemSink) {
        guard !url.isEmpty else { return }
        let example = "e.g. \"https://hc-ping.com/UUID\""
        if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            sink.error(field, nil, "must start with http:// or https://", fix: example)
        } else if hasControlCharacters(url) || url.contains(where: \.isWhitespace) || url.utf8.count > 2048 {
            sink.error(
                field, nil, "must be one URL without white space or control characters, at most 2048 bytes",
                fix: example)
        } else if url.replacing("{registration}", with: "").contains(where: { $0 == "{" || $0 == "}" }) {
            sink.error(
                field, nil, "has a placeholder other than {registration}",
                fix: "write {registration} for the registration's name, or no placeholder")
        }
    }
}

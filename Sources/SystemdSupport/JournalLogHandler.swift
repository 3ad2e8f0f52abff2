import Logging

/// A swift-log handler writing each record as one journal entry through
/// `JournalWriter` (sd_journal_sendv): MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, the
/// logger label as DBBACKUP_LOGGER, source location as CODE_FILE/CODE_LINE/CODE_FUNC,
/// and every metadata key as a field (uppercased, sanitized to the journal's rules,
/// e.g. "registration" -> REGISTRATION; give keys a DBBACKUP_ prefix where wanted),
/// and an attached error as DBBACKUP_ERROR.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let identifier: String

    public init(label: String, identifier: String = "dbbackup", metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.identifier = identifier
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        try? JournalWriter.send(
            Self.fields(
                event: event, label: label, identifier: identifier,
                handlerMetadata: metadata, provider: metadataProvider))
    }

    /// The journal fields of one record; separate from `log` so tests can inspect it.
    static func fields(
        event: LogEvent, label: String, identifier: String,
        handlerMetadata: Logger.Metadata, provider: Logger.MetadataProvider?
    ) -> [String: String] {
        var merged = handlerMetadata
        if let provided = provider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }

        var fields: [String: String] = [:]
        for (key, value) in merged {
            fields[JournalField.sanitizedName(key)] = "\(value)"
        }
        if let error = event.error { fields["DBBACKUP_ERROR"] = String(describing: error) }
        // Fixed fields last so metadata can never override them.
        fields["MESSAGE"] = event.message.description
        fields["PRIORITY"] = String(priority(event.level).rawValue)
        fields["SYSLOG_IDENTIFIER"] = identifier
        fields["DBBACKUP_LOGGER"] = label
        fields["CODE_FILE"] = event.file
        fields["CODE_LINE"] = String(event.line)
        fields["CODE_FUNC"] = event.function
        return fields
    }

    static func priority(_ level: Logger.Level) -> JournalPriority {
        switch level {
        case .trace, .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

import FoundationEssentials
import Logging
import SystemdSupport

/// Where the command line's log lines go.
enum CLILogging {
    /// Under systemd, logs become structured journal entries (level info and up); elsewhere
    /// they go to stderr (level warning and up). DBBACKUP_LOG_LEVEL overrides the level.
    static let logger: Logger = {
        let level = ProcessInfo.processInfo.environment["DBBACKUP_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        LoggingSystem.bootstrap { label in
            if Reporting.toJournal {
                var handler = JournalLogHandler(label: label)
                handler.logLevel = level ?? .info
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level ?? .warning
            return handler
        }
        return Logger(label: "dbbackup")
    }()
}

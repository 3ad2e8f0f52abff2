import FoundationEssentials
import Glibc
import SystemCalls

/// Where dbbackup keeps things. Both directories can be moved (`--config-dir`,
/// `--state-dir` or their environment variables) for tests and unusual hosts.
public struct Locations: Sendable {
    public static let defaultConfigDirectory = "/etc/dbbackup"
    public static let defaultStateDirectory = "/var/lib/dbbackup"

    public static let defaultRuntimeDirectory = "/run/dbbackup"

    public let configDirectory: String
    public let stateDirectory: String
    /// Where deploy scripts and the migration service meet: `migration-request`, requests,
    /// results. systemd sets RUNTIME_DIRECTORY for the services; DBBACKUP_RUNTIME_DIR moves it.
    public let runtimeDirectory: String

    public init(configDirectory: String, stateDirectory: String, runtimeDirectory: String? = nil) {
        let cwd = FileManager.default.currentDirectoryPath
        self.configDirectory = FileSystem.absolute(configDirectory, relativeTo: cwd)
        self.stateDirectory = FileSystem.absolute(stateDirectory, relativeTo: cwd)
        let environment = ProcessInfo.processInfo.environment
        let runtime =
            runtimeDirectory
            ?? environment["DBBACKUP_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? Self.defaultRuntimeDirectory
        self.runtimeDirectory = FileSystem.absolute(runtime, relativeTo: cwd)
    }

    public var mainFile: String { "\(configDirectory)/dbbackup.toml" }
    public var registrationsDirectory: String { "\(configDirectory)/registrations.d" }
    public var secretsDirectory: String { "\(configDirectory)/secrets" }
    public func registrationFile(_ name: String) -> String { "\(registrationsDirectory)/\(name).toml" }
    public var registryPath: String { "\(stateDirectory)/registry.db" }
    public var locksDirectory: String { "\(stateDirectory)/locks" }
    public var stagingDirectory: String { "\(stateDirectory)/staging" }

    /// A path as the user knows it: relative to the configuration directory when inside it.
    public func display(_ path: String) -> String {
        path.hasPrefix(configDirectory + "/") ? String(path.dropFirst(configDirectory.count + 1)) : path
    }
}

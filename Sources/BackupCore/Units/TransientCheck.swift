/// What `config check` and `registration test` need to run a check with exactly a service's
/// identity and sandbox: the service's settings, read from its unit file and drop-ins (as
/// systemd reports their paths, administrators' overrides included), turned into the
/// `-p KEY=VALUE` properties of a transient unit (`systemd-run`). Pure text.
public enum TransientCheck {
    public struct Assignment: Equatable, Sendable {
        public let section: String
        public let key: String
        public let value: String

        public init(section: String, key: String, value: String) {
            self.section = section
            self.key = key
            self.value = value
        }
    }

    /// The assignments of a unit file or drop-in, in order: comments and blank lines skipped,
    /// lines ending in a backslash continued.
    public static func assignments(_ text: String) -> [Assignment] {
        var result: [Assignment] = []
        var section = ""
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = pending.isEmpty ? raw.trimmed : pending + " " + raw.trimmed
            pending = ""
            if line.hasSuffix("\\") {
                line.removeLast()
                pending = line.trimmed
                continue
            }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            result.append(
                Assignment(
                    section: section, key: line[..<equals].trimmed, value: line[line.index(after: equals)...].trimmed))
        }
        return result
    }

    /// [Service] settings that are about running the service's command, not about who it runs
    /// as or what it may reach: the check replaces its command, lifecycle and output.
    public static let notCopied: Set<String> = [
        "Type", "ExecStart", "ExecStartPre", "ExecStartPost", "ExecCondition", "ExecReload", "ExecStop", "ExecStopPost",
        "NotifyAccess", "TimeoutStartSec", "TimeoutStopSec", "TimeoutSec", "TimeoutAbortSec", "RuntimeMaxSec",
        "WatchdogSec",
        "Restart", "RestartSec", "RemainAfterExit", "SuccessExitStatus", "PIDFile", "BusName", "Sockets", "OOMPolicy",
        "LoadCredential", "LoadCredentialEncrypted", "SetCredential", "SetCredentialEncrypted",
        "StandardInput", "StandardOutput", "StandardError", "Nice", "IOSchedulingClass", "IOSchedulingPriority",
        "IOWeight",
    ]

    /// [Unit] settings that a check takes over: waiting for the mounts the service waits for.
    public static let unitCopied: Set<String> = ["RequiresMountsFor"]

    /// The `KEY=VALUE` properties for `systemd-run -p`, from the assignments of the unit file
    /// and its drop-ins in the order systemd applies them. Specifiers are resolved for the
    /// instance (`%%`, `%i`, `%I`): properties set over D-Bus are taken literally.
    public static func properties(
        _ assignments: [Assignment], instance: String = "", unescapedInstance: String = ""
    ) -> [String] {
        assignments.compactMap { assignment in
            switch assignment.section {
            case "Service" where !notCopied.contains(assignment.key): break
            case "Unit" where unitCopied.contains(assignment.key): break
            default: return nil
            }
            let value = resolveSpecifiers(assignment.value, instance: instance, unescapedInstance: unescapedInstance)
            return "\(assignment.key)=\(value)"
        }
    }

    static func resolveSpecifiers(_ value: String, instance: String, unescapedInstance: String) -> String {
        guard value.contains("%") else { return value }
        var result = ""
        var iterator = value.makeIterator()
        while let character = iterator.next() {
            guard character == "%", let next = iterator.next() else {
                result.append(character)
                continue
            }
            switch next {
            case "%": result.append("%")
            case "i": result += instance
            case "I": result += unescapedInstance
            default: result += "%\(next)"
            }
        }
        return result
    }
}

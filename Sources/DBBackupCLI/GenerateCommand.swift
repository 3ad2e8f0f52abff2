import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract:
            "The systemd generator: write timers and drop-ins for the registrations (also run as dbbackup-generator).",
        discussion: """
            systemd runs /usr/lib/systemd/system-generators/dbbackup-generator with three output \
            directories; units go into the first. A broken registration is reported and skipped, the \
            others are generated; the exit status is non-zero only when nothing can be written. \
            With --check nothing is written: it prints what would be, and every problem, and exits \
            with status 78 (CONFIG) if a registration would be skipped.
            """)

    @OptionGroup var globals: GlobalOptions
    @Flag(help: "Print what would be written (and every problem), for people; write nothing.") var check = false
    @Argument(help: "Output directories: normal, early, late (only the first is used).") var directories: [String] = []

    func validate() throws {
        if directories.count > 3 { throw ValidationError("give at most three directories: normal [early [late]]") }
        if directories.isEmpty && !check {
            throw ValidationError("give the output directory, or --check to print what would be written")
        }
    }

    func run() throws {
        let log = GeneratorLog()
        let locations = globals.locations
        let loaded = globals.store.load()
        // An unconfigured host (fresh install) has nothing to generate and nothing to complain
        // about at every boot; `dbbackup config check` says what is missing.
        let quiet = loaded.registrations.isEmpty && globals.store.registrationNames().isEmpty
        for problem in loaded.problems where !quiet {
            log.write(
                problem.severity == .error ? 3 : 4,
                problem.severity == .error && problem.file.hasPrefix("registrations.d/")
                    ? "skipped: \(problem.description)" : problem.description)
        }
        let generator = UnitGenerator(locations: locations, config: loaded)
        if let problem = generator.identityProblem, !quiet { log.write(problem.priority, problem.message) }
        if check {
            // A dry run, also when given the directories: it must never replace live output.
            for file in generator.files() {
                if let target = file.linkTarget {
                    print("==> \(file.path) -> \(target)")
                } else {
                    print("==> \(file.path)\n\(file.contents)")
                }
            }
            if loaded.problems.contains(where: { $0.severity == .error }) {
                throw ExitCode(RunFailure.Kind.configuration.exitCode)
            }
            return
        }
        guard let directory = directories.first else { return }
        defer { log.finish(runtimeDirectory: locations.runtimeDirectory) }
        do {
            try generator.write(to: directory)
        } catch {
            log.write(2, "cannot write units to \(directory): \(error)")
            throw ExitCode(1)
        }
    }
}

/// Where the generator reports: /dev/kmsg when systemd runs it (its stderr goes nowhere
/// useful that early), stderr otherwise. Without /dev/kmsg (containers), systemd's generator
/// also keeps its report in the runtime directory (`GeneratorReport`), where `status` and
/// `config check` show it.
final class GeneratorLog {
    private let kmsg: Int32
    /// Run by systemd as a generator, with no /dev/kmsg: the report goes to a file too.
    private let keepsReport: Bool
    private var report: [String] = []

    init() {
        let asGenerator =
            (CommandLine.arguments.first.map { FileSystem.name(of: $0) } == "dbbackup-generator")
            && isatty(STDERR_FILENO) == 0
        kmsg = asGenerator ? (try? FileSystem.open("/dev/kmsg", O_WRONLY)) ?? -1 : -1
        keepsReport = asGenerator && kmsg < 0
    }

    func write(_ priority: Int, _ message: String) {
        let line = message.replacing("\n", with: " ")
        if kmsg >= 0 {
            _ = try? FileSystem.writeAll(
                kmsg, Array("<\(priority)>dbbackup-generator: \(line)\n".utf8), path: "/dev/kmsg")
        } else {
            Output.stderr("dbbackup-generator: \(line)")
        }
        if keepsReport { report.append(line) }
    }

    /// Writes the report file, or removes the last one when this run had nothing to report.
    func finish(runtimeDirectory: String) {
        if keepsReport { GeneratorReport.save(report, runtimeDirectory: runtimeDirectory) }
    }
}

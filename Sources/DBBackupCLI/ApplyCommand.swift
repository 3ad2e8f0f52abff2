import ArgumentParser
import BackupCore
import FoundationEssentials
import Glibc
import SystemCalls
import SystemdSupport

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract:
            """
            Make systemd follow the configuration now: daemon-reload (the generator runs) and restart \
            dbbackup.target.
            """,
        discussion: "registration add|edit|remove and retention set do this themselves when systemd is running.")

    @OptionGroup var globals: GlobalOptions

    func run() throws {
        do {
            let loaded = globals.store.load()
            for problem in loaded.problems { Output.stderr(problem.description) }
            guard Systemctl.isBooted else {
                throw CLIError(
                    "systemd is not running here; on the host that runs the backups: \(Activation.applyCommands)")
            }
            let scheduled = Activation.scheduledTimers(loaded)
            Activation.prepareDirectories(loaded, globals: globals)
            try Activation.apply(keeping: scheduled)
            let timers = scheduled.sorted()
            print("applied: \(loaded.registrations.count) registration(s), \(timers.count) timer(s)")
            if !timers.isEmpty {
                print(try Systemctl.run(["list-timers", "--all"] + timers).stdout, terminator: "")
            }
            if !loaded.errors.isEmpty {
                throw CLIError(
                    "\(Set(loaded.errors.map(\.file)).count) file(s) have errors and were skipped (see above)",
                    exitCode: RunFailure.Kind.configuration.exitCode)
            }
        }
    }
}

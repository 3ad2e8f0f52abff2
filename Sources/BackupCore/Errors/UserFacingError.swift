/// An error a person sees: what happened and what to do about it, and the exit status the
/// command then ends with. Every error that reaches the command line's entry point is one of
/// these (or argument-parser's own); the entry point prints it, once, and exits with its
/// status (`DBBackup.main`). A new kind of failure conforms here, and chooses its status from
/// `ExitStatus`.
public protocol UserFacingError: Error {
    var exitStatus: ExitStatus { get }
    /// What happened, with the fix where there is one; may be several lines.
    var message: String { get }
    /// A further hint, printed after the message (`message; hint`), or nil.
    var hint: String? { get }
    /// The text for stderr. By default every line after `dbbackup: `; configuration problems
    /// print as they are (`error: FILE: FIELD = VALUE: …; FIX`).
    var rendered: String { get }
}

extension UserFacingError {
    public var hint: String? { nil }

    public var rendered: String {
        let text = message + (hint.map { "; \($0)" } ?? "")
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { "dbbackup: \($0)" }.joined(
            separator: "\n")
    }
}

extension RunFailure: UserFacingError {
    public var exitStatus: ExitStatus { kind.status }
    /// The registration's name first: `registration nightly: …`. (`message` alone is the rest.)
    public var rendered: String { "dbbackup: \(description)" }
}

extension ConfigErrors: UserFacingError {
    public var exitStatus: ExitStatus { .configuration }
    public var message: String { description }
    public var rendered: String { description }
}

extension ConfigProblem: UserFacingError {
    public var exitStatus: ExitStatus { .configuration }
    public var rendered: String { description }
}

extension RestoreError: UserFacingError {
    public var exitStatus: ExitStatus { .failure }
}

extension RegistryError: UserFacingError {
    public var exitStatus: ExitStatus { .failure }
}

import Glibc
import Synchronization

/// A piece of work on a POSIX thread of its own, joined for its result.
///
/// Dispatch's global pool sizes itself to the CPU count, so on a two-core server a pooled task
/// that blocks (in fsync, or sending a part over the network) holds a worker the other tasks
/// wait for. The work dbbackup runs beside its main thread blocks by nature, so each job gets
/// a thread and the kernel schedules them.
public final class JoinableThread<Success: Sendable>: Sendable {
    private let outcome = Outcome()
    private let thread = Mutex<pthread_t?>(nil)

    private final class Outcome: Sendable {
        let result = Mutex<Result<Success, any Error>?>(nil)
    }

    /// Starts `body` at once. If no thread can be created, `body` runs on the caller's thread.
    public convenience init(_ body: @escaping @Sendable () throws -> Success) {
        self.init(body, orOnCallersThread: true)!
    }

    /// Starts `body` on a thread of its own, or returns nil, having run nothing, if no thread
    /// can be created: for work that waits for the caller, and so must not run on its thread.
    public convenience init?(ownThread body: @escaping @Sendable () throws -> Success) {
        self.init(body, orOnCallersThread: false)
    }

    private init?(_ body: @escaping @Sendable () throws -> Success, orOnCallersThread: Bool) {
        let job = Job { [outcome] in
            let result = Result { try body() }
            outcome.result.withLock { $0 = result }
        }
        let context = Unmanaged.passRetained(job).toOpaque()
        var handle = pthread_t()
        let created = pthread_create(
            &handle, nil,
            { context in
                Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        if created == 0 {
            thread.withLock { $0 = handle }
        } else {
            let job = Unmanaged<Job>.fromOpaque(context).takeRetainedValue()
            guard orOnCallersThread else { return nil }
            job.run()
        }
    }

    /// Waits for the work to finish and returns its result. Later calls return the same
    /// result; calls from several threads at once all wait (the lock is held across the join).
    public func join() -> Result<Success, any Error> {
        thread.withLock { handle in
            if let running = handle {
                pthread_join(running, nil)
                handle = nil
            }
        }
        return outcome.result.withLock { $0! }
    }

    /// The result, or the error the work threw.
    public func value() throws -> Success { try join().get() }

    deinit {
        // Never joined: let the thread end on its own.
        if let handle = thread.withLock({ $0 }) { pthread_detach(handle) }
    }
}

/// The non-generic closure a C thread entry point can call.
private final class Job: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

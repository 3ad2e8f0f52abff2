import Glibc
import Synchronization
import Testing
import Threads

@Suite("JoinableThread")
struct JoinableThreadTests {
    struct Failure: Error, Equatable { let code: Int }

    @Test("returns the work's value, or the error it threw")
    func resultAndError() throws {
        let value = JoinableThread { 6 * 7 }
        let failing = JoinableThread { () throws -> Int in throw Failure(code: 5) }
        #expect(try value.value() == 42)
        #expect(try value.value() == 42, "a second join gives the same result")
        #expect(throws: Failure(code: 5)) { try failing.value() }
    }

    /// One thread finishing a job while another gives up on it both join it: the second must
    /// wait for the result too, not find the job half done.
    @Test("ownThread: the work runs on another thread, so it may wait for its caller")
    func ownThread() throws {
        final class Flag: Sendable { let go = Mutex(false) }
        let flag = Flag()
        let caller = pthread_self()
        let waiter = JoinableThread(ownThread: { @Sendable () -> Bool in
            while !flag.go.withLock({ $0 }) { usleep(1_000) }
            return pthread_equal(pthread_self(), caller) == 0
        })
        flag.go.withLock { $0 = true }  // were it running here, this line would never be reached
        #expect(try waiter?.value() == true)
    }

    @Test("joined from several threads at once, every caller gets the result")
    func concurrentJoins() throws {
        for _ in 0..<20 {
            let job = JoinableThread { () -> Int in
                usleep(20_000)
                return 7
            }
            let joiners = (0..<4).map { _ in JoinableThread { try job.value() } }
            let results = try joiners.map { try $0.value() }
            #expect(results == [7, 7, 7, 7])
        }
    }

    /// Twelve jobs that each wait until all twelve have started: on a pool as wide as the CPU
    /// count (two here) they would wait for ever. The wait is bounded, so a failure is a
    /// failed expectation, not a hang.
    @Test("more jobs than cores all run at once")
    func jobsDoNotWaitForEachOther() throws {
        let count = 12
        final class Counter: Sendable { let started = Atomic<Int>(0) }
        let counter = Counter()
        let threads = (0..<count).map { _ in
            JoinableThread { () -> Bool in
                counter.started.add(1, ordering: .sequentiallyConsistent)
                for _ in 0..<500 {  // up to 5 s
                    if counter.started.load(ordering: .sequentiallyConsistent) == count { return true }
                    usleep(10_000)
                }
                return false
            }
        }
        let allSawEachOther = try threads.map { try $0.value() }
        #expect(
            allSawEachOther.allSatisfy { $0 },
            "\(allSawEachOther.filter { !$0 }.count) of \(count) jobs never saw the others start")
    }
}

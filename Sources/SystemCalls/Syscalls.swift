import CLinux
import Glibc

/// Every raw system call dbbackup makes outside `FileSystem` and `Subprocess` (which are built
/// on these) is wrapped once, here: a failure becomes a `SystemError` that names the call and
/// the path, and EINTR is retried in `retryingEINTR` and nowhere else. The rest of the code
/// calls these, never Glibc's file and process calls directly.
public enum Syscalls {
    /// Runs a call that returns -1 and sets errno on failure, again while it is interrupted.
    @discardableResult
    public static func retryingEINTR<T: BinaryInteger>(
        _ operation: String, _ path: String, _ call: () -> T
    ) throws(SystemError) -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            if Glibc.errno == EINTR { continue }
            throw SystemError(operation: operation, path: path, errno: Glibc.errno)
        }
    }

    /// Runs a call of libsystemd's convention (a negative errno on failure), again while it
    /// reports EINTR, and returns its result.
    @discardableResult
    public static func retryingNegativeEINTR(_ call: () -> Int32) -> Int32 {
        while true {
            let result = call()
            if result != -EINTR { return result }
        }
    }

    /// stat(2): what `path` names, following symlinks.
    public static func status(_ path: String) throws(SystemError) -> stat {
        var info = stat()
        try retryingEINTR("stat", path) { statusOf(path, &info) }
        return info
    }

    /// lstat(2): the link itself when `path` is a symlink.
    public static func linkStatus(_ path: String) throws(SystemError) -> stat {
        var info = stat()
        try retryingEINTR("lstat", path) { Glibc.lstat(path, &info) }
        return info
    }

    /// fstat(2) of an open file; `path` names it in errors.
    public static func status(of fd: Int32, path: String) throws(SystemError) -> stat {
        var info = stat()
        try retryingEINTR("fstat", path) { Glibc.fstat(fd, &info) }
        return info
    }

    /// read(2) into `buffer`; 0 at the end of the file.
    public static func read(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String
    ) throws(SystemError) -> Int {
        try retryingEINTR("read", path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// pread(2) into `buffer` from `offset`; 0 at the end of the file.
    public static func read(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String
    ) throws(SystemError) -> Int {
        try retryingEINTR("read", path) { Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// pwrite(2) of `buffer` at `offset`; returns how many bytes went (possibly fewer).
    public static func write(
        _ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int64, path: String
    ) throws(SystemError) -> Int {
        try retryingEINTR("write", path) { Glibc.pwrite(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// chown(2); `nil` leaves the group as it is.
    public static func changeOwner(_ path: String, user: uid_t, group: gid_t?) throws(SystemError) {
        try retryingEINTR("chown", path) { Glibc.chown(path, user, group ?? gid_t.max) }
    }

    /// lchown(2): the link itself when `path` is a symlink.
    public static func changeLinkOwner(_ path: String, user: uid_t, group: gid_t) throws(SystemError) {
        try retryingEINTR("lchown", path) { Glibc.lchown(path, user, group) }
    }

    /// chmod(2).
    public static func changeMode(_ path: String, _ mode: mode_t) throws(SystemError) {
        try retryingEINTR("chmod", path) { Glibc.chmod(path, mode) }
    }

    /// symlink(2): a link at `path` that points to `target`.
    public static func symlink(_ target: String, at path: String) throws(SystemError) {
        try retryingEINTR("symlink", path) { Glibc.symlink(target, path) }
    }

    /// unlink(2).
    public static func unlink(_ path: String) throws(SystemError) {
        try retryingEINTR("unlink", path) { Glibc.unlink(path) }
    }

    /// readlink(2): where the symlink `path` points.
    public static func readLink(_ path: String) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = try retryingEINTR("readlink", path) { Glibc.readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sleeps the calling thread for `duration`, resuming after a signal until it has passed.
    public static func sleep(for duration: Duration) {
        guard duration > .zero else { return }
        let parts = duration.components
        var request = timespec(tv_sec: Int(parts.seconds), tv_nsec: Int(parts.attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && Glibc.errno == EINTR { request = remaining }
    }
}

extension Syscalls {
    /// access(2): whether this process may use `path` as `mode` (R_OK, W_OK, X_OK) says.
    public static func access(_ path: String, _ mode: Int32) -> Result<Void, SystemError> {
        Result { () throws(SystemError) in try retryingEINTR("access", path) { Glibc.access(path, mode) } }
    }
}

extension Syscalls {
    /// flock(2) LOCK_EX | LOCK_NB: true when this descriptor now holds the lock, false when
    /// another holds it.
    public static func tryLockExclusive(_ fd: Int32, path: String) throws(SystemError) -> Bool {
        while true {
            if lockFile(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            switch Glibc.errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            case let error: throw SystemError(operation: "flock", path: path, errno: error)
            }
        }
    }

    /// flock(2) LOCK_UN (closing the descriptor lets the lock go as well).
    public static func unlock(_ fd: Int32) {
        _ = lockFile(fd, LOCK_UN)
    }
}

extension Syscalls {
    /// ftruncate(2) to 0 bytes.
    public static func truncate(_ fd: Int32, path: String) throws(SystemError) {
        try retryingEINTR("ftruncate", path) { Glibc.ftruncate(fd, 0) }
    }
}

extension Syscalls {
    /// copy_file_range(2) of up to `length` bytes at `offset` in both files, in the kernel:
    /// how many bytes it copied (0 at the end of the input), or why it could not. A Result:
    /// in a release build of Swift 6.3, `do { try } catch { return try other(error) }` in a
    /// `throws(SystemError)` caller wrote the error over the caller's stack (RangeCopier's
    /// object header), and the run aborted; the e2e test in a real systemd caught it.
    public static func copyRange(
        _ input: Int32, _ output: Int32, at offset: Int64, length: Int, path: String
    ) -> Result<Int, SystemError> {
        Result { () throws(SystemError) in
            try retryingEINTR("copy_file_range to", path) { dbb_copy_range(input, output, offset, UInt(length)) }
        }
    }
}

extension Syscalls {
    /// posix_fadvise(2) POSIX_FADV_SEQUENTIAL: the file will be read from start to end, so the
    /// kernel may read ahead further. Only advice: failure changes nothing.
    public static func adviseSequential(_ fd: Int32) {
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    }
}

extension Syscalls {
    /// fcntl(2) F_GETLK: the process holding a lock that would conflict with a write lock on
    /// any byte of the file, to its end and beyond (SQLite locks bytes past the end), or nil
    /// when none does. -1 for an open-file-description lock, whose holder fcntl cannot name.
    public static func conflictingWriteLockHolder(_ fd: Int32, path: String) throws(SystemError) -> Int32? {
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0
        try retryingEINTR("fcntl F_GETLK", path) { fcntl(fd, F_GETLK, &lock) }
        return lock.l_type == Int16(F_UNLCK) ? nil : lock.l_pid
    }
}

/// stat(2) and flock(2), named apart from the structs of the same names.
private func statusOf(_ path: String, _ info: inout stat) -> Int32 { stat(path, &info) }
private func lockFile(_ fd: Int32, _ operation: Int32) -> Int32 { flock(fd, operation) }

import CLinux
import Glibc

/// The file operations dbbackup needs for crash-safe placement, built on `Syscalls`: each C
/// call is wrapped once, in this target, and EINTR is retried in `Syscalls.retryingEINTR`.
public enum FileSystem {
    @discardableResult
    private static func retryingEINTR<T: BinaryInteger>(
        _ operation: String, _ path: String, _ call: () -> T
    ) throws(SystemError) -> T {
        try Syscalls.retryingEINTR(operation, path, call)
    }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(SystemError) -> Int32 {
        try retryingEINTR("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public static func fsync(_ fd: Int32, path: String) throws(SystemError) {
        try retryingEINTR("fsync", path) { Glibc.fsync(fd) }
    }

    /// fsync a directory so a rename or unlink inside it survives a power loss.
    public static func fsyncDirectory(_ path: String) throws(SystemError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    public static func fsyncFile(_ path: String) throws(SystemError) {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    /// Gives `source` the name `destination` only if that name is free, atomically, so two
    /// writers can never replace each other's file; `source` is gone afterwards. Returns
    /// false (and leaves `source`) when the name is taken.
    ///
    /// link(2) then unlink, where the file system has hard links; otherwise (vfat, some network
    /// file systems) renameat2 with RENAME_NOREPLACE; where that is not supported either, an
    /// exclusive create (O_EXCL) claims the name, and the rename replaces only that empty
    /// placeholder of ours. A crash in between leaves the placeholder, which the pending
    /// registry row names, so the next run removes it.
    public static func placeNoReplace(_ source: String, _ destination: String) throws(SystemError) -> Bool {
        if Glibc.link(source, destination) == 0 {
            try unlinkIfPresent(source)
            return true
        }
        switch Glibc.errno {
        case EEXIST: return false
        case EPERM, EOPNOTSUPP, ENOSYS, EMLINK: break  // no hard links here
        default: throw SystemError(operation: "link", path: destination, errno: Glibc.errno)
        }
        if dbb_rename_noreplace(source, destination) == 0 { return true }
        switch Glibc.errno {
        case EEXIST: return false
        case EINVAL, ENOSYS, EOPNOTSUPP: break  // no RENAME_NOREPLACE here
        default: throw SystemError(operation: "rename", path: destination, errno: Glibc.errno)
        }
        let placeholder = Glibc.open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if placeholder < 0 {
            if Glibc.errno == EEXIST { return false }
            throw SystemError(operation: "create", path: destination, errno: Glibc.errno)
        }
        close(placeholder)
        try rename(source, destination)
        return true
    }

    public static func rename(_ source: String, _ destination: String) throws(SystemError) {
        try retryingEINTR("rename", destination) { Glibc.rename(source, destination) }
    }

    /// Removes a file; a file that is already gone is not an error.
    public static func unlinkIfPresent(_ path: String) throws(SystemError) {
        if Glibc.unlink(path) == 0 || Glibc.errno == ENOENT { return }
        throw SystemError(operation: "unlink", path: path, errno: Glibc.errno)
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return systemStat(path, &info) == 0
    }

    /// Device and inode: which file a path names right now (nil when it names none).
    public static func identity(of path: String) -> [UInt64]? {
        var info = stat()
        guard systemStat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    /// Device and inode of an open file.
    public static func identity(of fd: Int32) -> [UInt64]? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return systemStat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The permission bits of a file (e.g. 0o600), nil when it cannot be looked at.
    public static func permissions(of path: String) -> mode_t? {
        var info = stat()
        return systemStat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    public static func size(_ path: String) throws(SystemError) -> Int64 {
        var info = stat()
        try retryingEINTR("stat", path) { systemStat(path, &info) }
        return Int64(info.st_size)
    }

    /// Creates a directory with `mode`, and missing parents with 0755 so that whoever the
    /// directory is for can reach it.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if isDirectory(path) { return }
        let parent = FileSystem.parent(of: path)
        if !parent.isEmpty, parent != path, !isDirectory(parent) {
            try makeDirectories(parent, mode: 0o755)
            // 0755 whatever the umask (the services' is 0077): a parent only root could enter
            // would lock the directory's owner out of it.
            _ = chmod(parent, 0o755)
        }
        if Glibc.mkdir(path, mode) != 0, Glibc.errno != EEXIST {
            throw SystemError(operation: "mkdir", path: path, errno: Glibc.errno)
        }
    }

    /// Writes `data` to `path` atomically: a temporary name beside it, fsync, rename, fsync of
    /// the directory. A reader sees the old content or the new, never a part.
    public static func writeAtomically(_ data: [UInt8], to path: String, mode: mode_t = 0o644) throws(SystemError) {
        let directory = FileSystem.parent(of: path)
        let temporary = "\(directory)/.\(FileSystem.name(of: path)).tmp-\(getpid())"
        let fd = try open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
        do {
            try writeAll(fd, data, path: temporary)
            _ = fchmod(fd, mode)  // the umask must not widen or narrow what we asked for
            try fsync(fd, path: temporary)
            close(fd)
            try rename(temporary, path)
            try fsyncDirectory(directory.isEmpty ? "." : directory)
        } catch {
            close(fd)
            try? unlinkIfPresent(temporary)
            throw error
        }
    }

    public static func writeAll(_ fd: Int32, _ data: [UInt8], path: String) throws(SystemError) {
        var failure: SystemError?
        data.withUnsafeBytes { buffer in
            do throws(SystemError) { try writeAll(fd, buffer, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// write(2) until every byte is written (short writes and EINTR handled).
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(SystemError) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            offset += try retryingEINTR("write", path) { Glibc.write(fd, base + offset, buffer.count - offset) }
        }
    }

    /// The names in a directory (without `.` and `..`), unsorted. Throws when it cannot be
    /// listed: missing (ENOENT), not a directory (ENOTDIR), a symlink loop (ELOOP), EACCES.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else {
            throw SystemError(operation: "opendir", path: path, errno: Glibc.errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A text file of at most `limit` bytes (configuration), read whole. Throws EFBIG for a
    /// larger one, before reading it.
    public static func readText(_ path: String, limit: Int) throws(SystemError) -> String {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var info = stat()
        let regular = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        if regular && info.st_size > limit { throw SystemError(operation: "read", path: path, errno: EFBIG) }
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while result.count <= limit {
            let count = try retryingEINTR("read", path) { Glibc.read(fd, chunk.baseAddress, chunk.count) }
            if count == 0 { return String(decoding: result, as: UTF8.self) }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
            // A regular file read to the size it had when opened is read: no read for the end
            // (a thousand of them at boot, for the generator). One that grew is read on.
            if regular && result.count == info.st_size && count < chunk.count {
                return String(decoding: result, as: UTF8.self)
            }
        }
        throw SystemError(operation: "read", path: path, errno: EFBIG)
    }

    public static func readAll(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = try retryingEINTR("read", path) { Glibc.read(fd, chunk.baseAddress, chunk.count) }
            if count == 0 { return result }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
        }
    }

    /// Streams a file through `body` in large chunks, with a fixed buffer: memory does not
    /// grow with the file.
    public static func forEachChunk(of path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        Syscalls.adviseSequential(fd)
        try forEachChunk(of: fd, path: path, from: 0, length: nil, body)
    }

    /// Streams `length` bytes of an open file from `offset` (to its end when `length` is nil)
    /// through `body`, in chunks of at most 1 MiB read into one buffer. Throws ENODATA when
    /// the file ends before `length` bytes: it became shorter while it was being read.
    public static func forEachChunk(
        of fd: Int32, path: String, from offset: Int64, length: Int64?,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while length.map({ done < $0 }) ?? true {
            let want = length.map { Int(min(Int64(capacity), $0 - done)) } ?? capacity
            let count = try Syscalls.read(
                fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset + done, path: path)
            if count == 0 {
                if length == nil { return }
                throw SystemError(operation: "read", path: path, errno: ENODATA)
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            done += Int64(count)
        }
    }

    /// Asks the kernel to start writing the dirty pages of `range` of a file to disk now,
    /// without waiting for it and without flushing the disk's cache (sync_file_range with
    /// SYNC_FILE_RANGE_WRITE). Errors surface at the fsync that follows.
    public static func startWriteback(_ fd: Int32, _ range: Range<Int64>) {
        _ = dbb_start_writeback(fd, range.lowerBound, Int64(range.count))
    }

    /// Waits until what was handed to the disk of `range` (startWriteback) has been written.
    public static func waitForWriteback(_ fd: Int32, _ range: Range<Int64>) {
        guard !range.isEmpty else { return }
        _ = dbb_wait_for_writeback(fd, range.lowerBound, Int64(range.count))
    }

    /// Size of an open file, or nil if fstat fails.
    public static func size(of fd: Int32) -> Int64? {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int64(info.st_size) : nil
    }

    /// The wall clock (CLOCK_REALTIME, which file times use), in nanoseconds since the epoch.
    public static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return nanoseconds(now)
    }

    /// Last modification time of `path` in nanoseconds since the epoch, or nil if it does not
    /// exist or is empty (SQLite creates an empty WAL when any connection opens the database,
    /// a reader's too: only content means a write).
    public static func modificationTime(ofNonEmpty path: String) -> Int64? {
        var info = stat()
        guard systemStat(path, &info) == 0, info.st_size > 0 else { return nil }
        return nanoseconds(info.st_mtim)
    }

    /// Last modification time of `path` in nanoseconds since the epoch, or nil if it does not exist.
    public static func modificationTime(of path: String) -> Int64? {
        var info = stat()
        guard systemStat(path, &info) == 0 else { return nil }
        return nanoseconds(info.st_mtim)
    }

    private static func nanoseconds(_ time: timespec) -> Int64 {
        Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// When root creates a file in a directory that belongs to the service user (the state
    /// directory), the file must belong to that user too, or the service cannot use it later.
    public static func adoptOwnership(_ path: String, of directory: String) {
        guard getuid() == 0 else { return }
        var owner = stat()
        guard systemStat(directory, &owner) == 0, owner.st_uid != 0 else { return }
        _ = chown(path, owner.st_uid, owner.st_gid)
    }

    /// Absolute form of `path`, resolved against `base` when relative, with `.`, `..` and
    /// repeated slashes removed lexically. Symlinks are left as they are, as a sysadmin wrote them.
    public static func absolute(_ path: String, relativeTo base: String) -> String {
        if isNormalAbsolute(path) { return path }
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Whether `absolute` would return `path` as it is: it starts with `/`, and has no empty,
    /// `.` or `..` component and no trailing `/` (unless it is `/`). Byte by byte, as the
    /// kernel reads paths (the generator normalises a thousand of them at boot).
    static func isNormalAbsolute(_ path: String) -> Bool {
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        var bytes = path.utf8.makeIterator()
        guard bytes.next() == slash else { return false }
        // Length of the current component so far, and whether it holds only dots.
        var length = 0
        var onlyDots = true
        while let byte = bytes.next() {
            if byte == slash {
                if length == 0 || (onlyDots && length <= 2) { return false }
                (length, onlyDots) = (0, true)
            } else {
                length += 1
                onlyDots = onlyDots && byte == dot
            }
        }
        return path.utf8.count == 1 || !(length == 0 || (onlyDots && length <= 2))
    }

    /// The directory part of a path (`/a/b/c` → `/a/b`, `/a` → `/`, `c` → `.`).
    public static func parent(of path: String) -> String {
        // The last `/` byte: a path's separator whatever characters surround it.
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The last component of a path.
    public static func name(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }
}

extension FileSystem {
    /// Sets the user extended attribute `user.NAME` of a file; false where the file system
    /// has none (vfat, some tmpfs), which callers treat as "not recorded there".
    @discardableResult
    public static func setAttribute(_ name: String, _ value: String, of path: String) -> Bool {
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { CLinux.setxattr(path, "user.\(name)", $0.baseAddress, UInt($0.count), 0) } == 0
    }

    /// The user extended attribute `user.NAME` of a file, or nil.
    public static func attribute(_ name: String, of path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes {
            CLinux.getxattr(path, "user.\(name)", $0.baseAddress, UInt($0.count))
        }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

/// stat(2), named apart so it is not mistaken for the struct inside `FileSystem`.
private func systemStat(_ path: String, _ info: inout stat) -> Int32 { stat(path, &info) }

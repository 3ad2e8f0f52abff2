import Glibc
import SystemCalls

/// An open file descriptor, closed when the value goes away (or by `close()`).
final class LocalFile {
    private(set) var descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close() }

    /// Closes it before the value goes away, for a caller that knows nothing reads it any more.
    func close() {
        guard descriptor >= 0 else { return }
        FileSystem.close(descriptor)
        descriptor = -1
    }

    static func openForReading(_ path: String) throws(LocalFileError) -> LocalFile {
        do {
            return LocalFile(descriptor: try FileSystem.open(path, O_RDONLY), path: path)
        } catch {
            throw LocalFileError("cannot open \(path) for reading: \(SystemError.text(error.errno))")
        }
    }

    /// Creates or truncates `path` (mode 0600: backups hold the application's data).
    static func openForWriting(_ path: String) throws(LocalFileError) -> LocalFile {
        do {
            return LocalFile(
                descriptor: try FileSystem.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600), path: path)
        } catch {
            throw LocalFileError("cannot open \(path) for writing: \(SystemError.text(error.errno))")
        }
    }

    func size() throws(LocalFileError) -> Int64 {
        let info: stat
        do { info = try Syscalls.status(of: descriptor, path: path) } catch {
            throw LocalFileError("cannot stat \(path): \(SystemError.text(error.errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw LocalFileError("\(path) is not a regular file") }
        return Int64(info.st_size)
    }

    func truncate() throws(LocalFileError) {
        do { try Syscalls.truncate(descriptor, path: path) } catch {
            throw LocalFileError("cannot truncate \(path): \(SystemError.text(error.errno))")
        }
    }

    func sync() throws(LocalFileError) {
        do { try FileSystem.fsync(descriptor, path: path) } catch {
            throw LocalFileError("cannot fsync \(path): \(SystemError.text(error.errno))")
        }
    }

    /// Reads `length` bytes from `offset` in 1 MiB chunks, handing each to `body`.
    func forEachChunk(offset: Int64, length: Int64, _ body: (UnsafeRawBufferPointer) -> Void) throws(LocalFileError) {
        do {
            try FileSystem.forEachChunk(of: descriptor, path: path, from: offset, length: length, body)
        } catch let error as SystemError where error.errno == ENODATA {
            throw LocalFileError("\(path) became shorter while it was being read")
        } catch let error as SystemError {
            throw LocalFileError("cannot read \(path): \(SystemError.text(error.errno))")
        } catch {
            throw LocalFileError("cannot read \(path): \(error)")
        }
    }
}

struct LocalFileError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

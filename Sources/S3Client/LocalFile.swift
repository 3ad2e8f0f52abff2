import Hashing

import Glibc

/// An open file descriptor, closed when the value goes away.
final class LocalFile {
    let descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    static func openForReading(_ path: String) throws(LocalFileError) -> LocalFile {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LocalFileError("cannot open \(path) for reading: \(String(cString: strerror(errno)))") }
        return LocalFile(descriptor: descriptor, path: path)
    }

    /// Creates or truncates `path` (mode 0600: backups hold the application's data).
    static func openForWriting(_ path: String) throws(LocalFileError) -> LocalFile {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LocalFileError("cannot open \(path) for writing: \(String(cString: strerror(errno)))") }
        return LocalFile(descriptor: descriptor, path: path)
    }

    func size() throws(LocalFileError) -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw LocalFileError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw LocalFileError("\(path) is not a regular file") }
        return Int64(info.st_size)
    }

    func truncate() throws(LocalFileError) {
        guard ftruncate(descriptor, 0) == 0 else { throw LocalFileError("cannot truncate \(path): \(String(cString: strerror(errno)))") }
    }

    func sync() throws(LocalFileError) {
        guard fsync(descriptor) == 0 else { throw LocalFileError("cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Reads `length` bytes from `offset` in 1 MiB chunks, handing each to `body`.
    func forEachChunk(offset: Int64, length: Int64, _ body: (UnsafeRawBufferPointer) -> Void) throws(LocalFileError) {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while done < length {
            let want = Int(min(Int64(chunk), length - done))
            let got = pread(descriptor, buffer, want, off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw LocalFileError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            guard got > 0 else { throw LocalFileError("\(path) became shorter while it was being read") }
            body(UnsafeRawBufferPointer(start: buffer, count: got))
            done += Int64(got)
        }
    }
}

struct LocalFileError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// SHA-256 and MD5 of a byte range, computed in one read pass.
struct RangeDigests {
    let sha256: [UInt8]
    let md5: [UInt8]

    /// Also feeds the bytes to `whole` (the whole file's running digests), if given.
    init(file: LocalFile, offset: Int64, length: Int64, whole: WholeFileDigests? = nil) throws(LocalFileError) {
        var sha = Digest(.sha256)
        var md5 = Digest(.md5)
        try file.forEachChunk(offset: offset, length: length) { bytes in
            sha.update(bytes)
            md5.update(bytes)
            whole?.update(bytes)
        }
        self.sha256 = sha.finalize()
        self.md5 = md5.finalize()
    }

    /// The whole file's digests: `known` when it has both and is of this size (the snapshot
    /// computed them), otherwise one read of the file.
    init(wholeFile file: LocalFile, size: Int64, known: FileDigests?) throws(LocalFileError) {
        if let known, let md5 = known.md5, known.size == size {
            (sha256, self.md5) = (known.sha256, md5)
        } else {
            self = try RangeDigests(file: file, offset: 0, length: size)
        }
    }

    init(bytes: [UInt8]) {
        sha256 = Digest.hash(.sha256, bytes)
        md5 = Digest.hash(.md5, bytes)
    }
}

/// Running SHA-256 and MD5 of a whole file whose parts are hashed one after another.
final class WholeFileDigests {
    private var sha: Digest? = Digest(.sha256)
    private var md5: Digest? = Digest(.md5)

    func update(_ bytes: UnsafeRawBufferPointer) {
        sha?.update(bytes)
        md5?.update(bytes)
    }

    func finalize() -> (sha256: [UInt8], md5: [UInt8]) {
        (sha.take()?.finalize() ?? [], md5.take()?.finalize() ?? [])
    }
}

/// Sleeps the calling thread (the client is synchronous by design).
func sleepThread(for duration: Duration) {
    guard duration > .zero else { return }
    let parts = duration.components
    var request = timespec(tv_sec: Int(parts.seconds), tv_nsec: Int(parts.attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

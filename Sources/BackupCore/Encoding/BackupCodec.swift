#if canImport(Glibc)
import Glibc
#endif
import Age
import Hashing

/// What `BackupCodec.encode` read and wrote.
public struct EncodeResult: Sendable, Equatable {
    /// SHA-256 and size of the plain database as read (compare with the snapshot's digest:
    /// equal means the stored form holds exactly the verified snapshot).
    public let plain: FileDigests
    /// SHA-256 (and MD5, when asked) and size of the stored bytes as written: what the store
    /// holds, and what the registry records.
    public let stored: FileDigests
    /// zstd worker threads used (0: not compressed, or compressed on the calling thread).
    public let workers: Int
}

/// What `BackupCodec.decode` read and wrote.
public struct DecodeResult: Sendable, Equatable {
    /// SHA-256 and size of the stored bytes as read: compare with the registry's record.
    public let stored: FileDigests
    /// SHA-256 and size of the plain database written.
    public let plain: FileDigests
    /// The layers found, innermost first: [], [.zstd], [.age] or [.zstd, .age].
    public let layers: [StoredLayer]
}

/// The stored form of a backup, file to file, streaming with fixed memory: a plain staging
/// file in, its stored form out (`encode`), and back (`decode`).
///
/// What these functions verify: age's header MAC and every chunk's tag, zstd's frame
/// checksums, that the input ends where its format says (nothing cut short, nothing
/// appended), that a name claiming `.zst`/`.age` is what the content is. What they leave to
/// the caller: comparing the digests they return with the snapshot's and the registry's,
/// `PRAGMA quick_check`/`integrity_check` of the plain database, and giving the output its
/// final name (they write only under the name or descriptor they are given).
public enum BackupCodec {
    /// Writes the stored form of `plainFile` to the open descriptor `output` (from its current
    /// position), streaming: compress, then encrypt. Does not fsync or close `output`.
    ///
    /// - Parameters:
    ///   - plainFile: a verified plain snapshot (the caller ran quick_check on it); it must not
    ///     change while this runs (a changed size is `inputChanged` when compressing).
    ///   - outputName: the output's path, for messages.
    ///   - workers: zstd threads (`StoredForm.defaultWorkers`).
    ///   - md5: also compute the MD5 of the stored bytes (S3's Content-MD5).
    ///   - progress: called after each write with the stored bytes written so far.
    public static func encode(plainFile: String, as form: StoredForm, to output: Int32, outputName: String,
                              workers: Int = StoredForm.defaultWorkers, md5: Bool = false,
                              progress: ((Int64) -> Void)? = nil) throws(EncodingError) -> EncodeResult {
        let writer = DigestingWriter(fd: output, path: outputName, md5: md5, progress: progress)
        var plainDigest = Digest(.sha256)
        var plainSize: Int64 = 0
        do {
            let size = try FileSystem.size(plainFile)
            let encoder = try StoredFormEncoder(form: form, workers: workers, plainSize: size, name: plainFile)
            try FileSystem.forEachChunk(of: plainFile) { chunk in
                plainDigest.update(chunk)
                plainSize += Int64(chunk.count)
                try encoder.write(chunk, to: writer.write)
            }
            try encoder.finish(to: writer.write)
            try writer.flush()
            return EncodeResult(plain: FileDigests(sha256: plainDigest.finalize(), md5: nil, size: plainSize),
                                stored: writer.digests(), workers: encoder.workers)
        } catch {
            throw classify(error, reading: plainFile, writing: outputName)
        }
    }

    /// `encode` into a new file `path` (created with `mode`, never replacing one), fsynced.
    /// On any failure the file is removed: nothing half written is left under `path`.
    public static func encode(plainFile: String, as form: StoredForm, toNewFile path: String, mode: mode_t = 0o600,
                              workers: Int = StoredForm.defaultWorkers, md5: Bool = false,
                              progress: ((Int64) -> Void)? = nil) throws(EncodingError) -> EncodeResult {
        try writingNewFile(path, mode: mode) { fd throws(EncodingError) in
            try encode(plainFile: plainFile, as: form, to: fd, outputName: path, workers: workers, md5: md5, progress: progress)
        }
    }

    /// Writes the plain database held in `storedFile` to the open descriptor `output`,
    /// streaming: decrypt with `identities`, then decompress. The layers come from the
    /// content; a name ending `.zst`/`.age` must agree with it (`mismatchedName`). Does not
    /// fsync or close `output`. On an error, what was written to `output` is not the database.
    public static func decode(storedFile: String, identities: [AgeIdentity], to output: Int32, outputName: String,
                              progress: ((Int64) -> Void)? = nil) throws(EncodingError) -> DecodeResult {
        let writer = DigestingWriter(fd: output, path: outputName, md5: false, progress: progress)
        var storedDigest = Digest(.sha256)
        var storedSize: Int64 = 0
        let decoder = StoredFormDecoder(identities: identities, claimedLayers: StoredForm.layers(claimedBy: FileSystem.name(of: storedFile)),
                                        name: storedFile)
        do {
            try FileSystem.forEachChunk(of: storedFile) { chunk in
                storedDigest.update(chunk)
                storedSize += Int64(chunk.count)
                try decoder.write(chunk, to: writer.write)
            }
            let layers = try decoder.finish(to: writer.write)
            try writer.flush()
            return DecodeResult(stored: FileDigests(sha256: storedDigest.finalize(), md5: nil, size: storedSize),
                                plain: writer.digests(), layers: layers)
        } catch {
            throw classify(error, reading: storedFile, writing: outputName)
        }
    }

    /// `decode` into a new file `path` (created with `mode`, never replacing one), fsynced.
    /// On any failure the file is removed.
    public static func decode(storedFile: String, identities: [AgeIdentity], toNewFile path: String, mode: mode_t = 0o600,
                              progress: ((Int64) -> Void)? = nil) throws(EncodingError) -> DecodeResult {
        try writingNewFile(path, mode: mode) { fd throws(EncodingError) in
            try decode(storedFile: storedFile, identities: identities, to: fd, outputName: path, progress: progress)
        }
    }

    private static func writingNewFile<T>(_ path: String, mode: mode_t, _ body: (Int32) throws(EncodingError) -> T) throws(EncodingError) -> T {
        let fd: Int32
        do {
            fd = try FileSystem.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        } catch {
            throw EncodingError(.io, "cannot create \(path): \(error)", systemError: error)
        }
        do throws(EncodingError) {
            let result = try body(fd)
            do {
                try FileSystem.fsync(fd, path: path)
            } catch {
                throw EncodingError(.io, "\(error)", systemError: error)
            }
            FileSystem.close(fd)
            return result
        } catch {
            FileSystem.close(fd)
            try? FileSystem.unlinkIfPresent(path)
            throw error
        }
    }

    private static func classify(_ error: any Error, reading input: String, writing output: String) -> EncodingError {
        switch error {
        case let error as EncodingError: return error
        case let error as SystemError:
            let direction = error.path == output ? "writing" : "reading"
            return EncodingError(.io, "\(direction) \(error.path) failed: \(error)", systemError: error)
        default: return EncodingError(.failed, "\(input) → \(output): \(error)")
        }
    }
}

/// Collects output in a 1 MiB buffer (few, large writes), digesting every byte on its way.
private final class DigestingWriter {
    private let fd: Int32
    private let path: String
    private var sha256: Digest? = Digest(.sha256)
    private var md5: Digest?
    private let buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var written: Int64 = 0
    private let progress: ((Int64) -> Void)?

    init(fd: Int32, path: String, md5: Bool, progress: ((Int64) -> Void)?) {
        self.fd = fd
        self.path = path
        self.md5 = md5 ? Digest(.md5) : nil
        self.progress = progress
        buffer = .allocate(byteCount: 1 << 20, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        sha256?.update(bytes)
        md5?.update(bytes)
        if filled + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try FileSystem.writeAll(fd, bytes, path: path)
            advance(by: bytes.count)
            return
        }
        (buffer.baseAddress! + filled).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        filled += bytes.count
    }

    func flush() throws(SystemError) {
        guard filled > 0 else { return }
        try FileSystem.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<filled]), path: path)
        let count = filled
        filled = 0
        advance(by: count)
    }

    private func advance(by count: Int) {
        written += Int64(count)
        progress?(written)
    }

    /// Call once, after the last flush.
    func digests() -> FileDigests {
        let sha = sha256.take()!
        let md = md5.take()
        return FileDigests(sha256: sha.finalize(), md5: md?.finalize(), size: written)
    }
}

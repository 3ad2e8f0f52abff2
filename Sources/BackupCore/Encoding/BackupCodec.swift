import Age
import Glibc
import Hashing
import SystemCalls

/// What `BackupCodec.encode` read and wrote.
public struct EncodeResult: Sendable, Equatable {
    /// Size of the plain database as read.
    public let plainSize: Int64
    /// SHA-256 of the plain database as read, unless `hashPlain` was false: compare it with the
    /// snapshot's digest; equal means the stored form holds exactly the verified snapshot.
    public let plainSHA256: [UInt8]?
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
    ///   - hashPlain: compute the SHA-256 of the plain bytes read. It costs about as much CPU as
    ///     level-3 zstd on incompressible pages (SHA-256 runs at ~700 MB/s here); a caller that
    ///     trusts its staging file not to change after it hashed it may skip it.
    ///   - progress: called after each write with the stored bytes written so far, from the
    ///     thread that writes (not the caller's).
    public static func encode(
        plainFile: String, as form: StoredForm, to output: Int32, outputName: String,
        workers: Int = StoredForm.defaultWorkers, md5: Bool = false, hashPlain: Bool = true,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) throws(EncodingError) -> EncodeResult {
        let plain = DigestingSink(sha256: hashPlain, md5: false)
        let stored = DigestingSink(md5: md5, writingTo: output, path: outputName, progress: progress)
        do {
            let encoder = try StoredFormEncoder(
                form: form, workers: workers, plainSize: try FileSystem.size(plainFile), name: plainFile)
            try pipeline(
                from: plainFile, hashingInto: plain, through: { chunk, sink in try encoder.write(chunk, to: sink) },
                finishing: { sink in try encoder.finish(to: sink) }, into: stored)
            let plainDigests = plain.digests()
            return EncodeResult(
                plainSize: plainDigests.size, plainSHA256: hashPlain ? plainDigests.sha256 : nil,
                stored: stored.digests(), workers: encoder.workers)
        } catch {
            throw classify(error, reading: plainFile, writing: outputName)
        }
    }

    /// `encode` into a new file `path` (created with `mode`, never replacing one), fsynced.
    /// On any failure the file is removed: nothing half written is left under `path`.
    public static func encode(
        plainFile: String, as form: StoredForm, toNewFile path: String, mode: mode_t = 0o600,
        workers: Int = StoredForm.defaultWorkers, md5: Bool = false, hashPlain: Bool = true,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) throws(EncodingError) -> EncodeResult {
        try writingNewFile(path, mode: mode) { fd throws(EncodingError) in
            try encode(
                plainFile: plainFile, as: form, to: fd, outputName: path, workers: workers, md5: md5,
                hashPlain: hashPlain, progress: progress)
        }
    }

    /// Writes the plain database held in `storedFile` to the open descriptor `output`,
    /// streaming: decrypt with `identities`, then decompress. The layers come from the
    /// content; a name ending `.zst`/`.age` must agree with it (`mismatchedName`). Does not
    /// fsync or close `output`. On an error, what was written to `output` is not the database.
    public static func decode(
        storedFile: String, identities: [AgeIdentity], to output: Int32, outputName: String,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) throws(EncodingError) -> DecodeResult {
        let stored = DigestingSink(md5: false)
        let plain = DigestingSink(md5: false, writingTo: output, path: outputName, progress: progress)
        let decoder = StoredFormDecoder(
            identities: identities, claimedLayers: StoredForm.layers(claimedBy: FileSystem.name(of: storedFile)),
            name: storedFile)
        do {
            var layers: [StoredLayer] = []
            try pipeline(
                from: storedFile, hashingInto: stored, through: { chunk, sink in try decoder.write(chunk, to: sink) },
                finishing: { sink in layers = try decoder.finish(to: sink) }, into: plain)
            return DecodeResult(stored: stored.digests(), plain: plain.digests(), layers: layers)
        } catch {
            throw classify(error, reading: storedFile, writing: outputName)
        }
    }

    /// Reads `input` in 1 MiB buffers and pushes each through `transform` into `output`. The
    /// input's digest and the output's digests and writes run on threads of their own (via
    /// `ChunkPipe`), beside the reading and the (de)compression on this one, which they would
    /// otherwise hold up: measured here, hashing both sides on this thread made encoding 1.5-2×
    /// slower than `zstd -T0` in wall time for the same CPU time.
    private static func pipeline(
        from input: String, hashingInto inputDigest: DigestingSink,
        through transform: (UnsafeRawBufferPointer, ByteSink) throws -> Void,
        finishing: (ByteSink) throws -> Void, into output: DigestingSink
    ) throws {
        let reading = ChunkPipe { try inputDigest.consume($0) }
        let writing = ChunkPipe { try output.consume($0) }
        do {
            let fd = try FileSystem.open(input, O_RDONLY)
            defer { FileSystem.close(fd) }
            Syscalls.adviseSequential(fd)
            while true {
                let buffer = try reading.take()
                let count = try Syscalls.read(fd, into: buffer.bytes, path: input)
                // Hashed over there while transformed here: both only read the buffer, and this
                // thread takes no other until the transform is done with it.
                try reading.post(buffer, count: count)
                if count == 0 { break }
                try transform(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]), writing.append)
            }
            try finishing(writing.append)
            try reading.finish()
            try writing.finish()
        } catch {
            reading.cancel()
            writing.cancel()
            throw error
        }
    }

    /// `decode` into a new file `path` (created with `mode`, never replacing one), fsynced.
    /// On any failure the file is removed.
    public static func decode(
        storedFile: String, identities: [AgeIdentity], toNewFile path: String, mode: mode_t = 0o600,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) throws(EncodingError) -> DecodeResult {
        try writingNewFile(path, mode: mode) { fd throws(EncodingError) in
            try decode(storedFile: storedFile, identities: identities, to: fd, outputName: path, progress: progress)
        }
    }

    private static func writingNewFile<T>(
        _ path: String, mode: mode_t, _ body: (Int32) throws(EncodingError) -> T
    ) throws(EncodingError) -> T {
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

/// Digests every byte it is given, and writes them to a descriptor if it has one. Used from
/// one thread at a time (a `ChunkPipe`'s consumer).
private final class DigestingSink: @unchecked Sendable {
    private var sha256: Digest?
    private var md5: Digest?
    private var size: Int64 = 0
    private let fd: Int32?
    private let path: String
    private let progress: (@Sendable (Int64) -> Void)?

    init(
        sha256: Bool = true, md5: Bool, writingTo fd: Int32? = nil, path: String = "",
        progress: (@Sendable (Int64) -> Void)? = nil
    ) {
        self.sha256 = sha256 ? Digest(.sha256) : nil
        self.md5 = md5 ? Digest(.md5) : nil
        self.fd = fd
        self.path = path
        self.progress = progress
    }

    func consume(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        sha256?.update(bytes)
        md5?.update(bytes)
        if let fd { try FileSystem.writeAll(fd, bytes, path: path) }
        size += Int64(bytes.count)
        progress?(size)
    }

    /// Call once, after the last bytes. (No SHA-256 asked for: an empty one.)
    func digests() -> FileDigests {
        FileDigests(sha256: sha256.take()?.finalize() ?? [], md5: md5.take()?.finalize(), size: size)
    }
}

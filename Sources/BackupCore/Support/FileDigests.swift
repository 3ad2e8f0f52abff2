import Glibc
import Hashing
import SystemCalls

/// Digests of whole files, read once through `FileSystem.forEachChunk`.
extension FileSystem {
    /// SHA-256 (lowercase hex) and size of a file, read once.
    public static func sha256(of path: String) throws -> (sha256: String, size: Int64) {
        let (sha256, size) = try digest(.sha256, of: path)
        return (sha256.hexString, size)
    }

    /// One digest of a whole file, and its size.
    public static func digest(_ algorithm: Digest.Algorithm, of path: String) throws -> (digest: [UInt8], size: Int64) {
        var digest = Digest(algorithm)
        var size: Int64 = 0
        try forEachChunk(of: path) { chunk in
            digest.update(chunk)
            size += Int64(chunk.count)
        }
        return (digest.finalize(), size)
    }

    /// Copies `source` to a new file `destination` (which must not exist), hashing what it
    /// writes, and fsyncs it. Returns the SHA-256 of the bytes written.
    public static func copyHashing(_ source: String, to destination: String) throws -> (sha256: String, size: Int64) {
        let out = try open(destination, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        defer { close(out) }
        var digest = Digest(.sha256)
        var size: Int64 = 0
        try forEachChunk(of: source) { chunk in
            digest.update(chunk)
            try writeAll(out, chunk, path: destination)
            size += Int64(chunk.count)
        }
        try fsync(out, path: destination)
        return (digest.finalize().hexString, size)
    }
}

import Hashing

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

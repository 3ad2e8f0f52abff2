import CZstd

/// What went wrong in a zstd stream, said so that a sysadmin knows whether the file is
/// damaged, cut short, or not zstd at all.
public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The data does not start with a zstd frame.
        case notZstd
        /// A frame's XXH64 content checksum does not match what it decompressed to.
        case checksumMismatch
        /// The frame is damaged (its structure, not only its checksum).
        case corrupt
        /// The data ends inside a frame.
        case truncated
        /// The frame needs a larger window than decompression allows (memory stays bounded).
        case windowTooLarge
        /// The input was not the size promised to the compressor (it changed while read).
        case sizeMismatch
        /// Anything else libzstd reports (out of memory, bad parameter).
        case failed
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    /// libzstd's error for a return value of one of its calls.
    static func from(code: Int, operation: String) -> ZstdError {
        let name = String(cString: ZSTD_getErrorName(code))
        switch ZSTD_getErrorCode(code) {
        case ZSTD_error_prefix_unknown:
            return ZstdError(.notZstd, "is not zstd data (no zstd frame starts here: \(name))")
        case ZSTD_error_checksum_wrong:
            return ZstdError(.checksumMismatch, "fails its zstd frame checksum: the compressed data is damaged")
        case ZSTD_error_corruption_detected, ZSTD_error_frameParameter_unsupported, ZSTD_error_dictionary_wrong:
            return ZstdError(.corrupt, "is damaged: zstd cannot decode it (\(name))")
        case ZSTD_error_frameParameter_windowTooLarge:
            return ZstdError(
                .windowTooLarge,
                """
                needs a zstd window larger than 128 MiB to decompress (made with --long or --ultra?); decompress \
                it with `zstd -d --memory=2048MB` first
                """
            )
        case ZSTD_error_srcSize_wrong:
            return ZstdError(.sizeMismatch, "changed size while it was compressed (\(name))")
        default:
            return ZstdError(.failed, "\(operation): \(name)")
        }
    }
}

/// libzstd's size_t results: an error code, or a count.
@inline(__always)
func checked(_ result: Int, _ operation: String) throws(ZstdError) -> Int {
    if ZSTD_isError(result) != 0 { throw ZstdError.from(code: result, operation: operation) }
    return result
}

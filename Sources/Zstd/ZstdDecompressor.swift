import CZstd

/// Streaming zstd decompression with libzstd. Each frame's content checksum, when the frame
/// has one (`zstd` and `ZstdCompressor` always write it), is checked by libzstd as the frame
/// ends; a mismatch is `checksumMismatch`. Several frames one after another decode as one
/// stream, as `zstd -d` does. Input that stops inside a frame is `truncated` at `finish()`.
///
/// Memory is fixed: libzstd's window (at most 128 MiB, which `windowTooLarge` reports; level
/// 3 uses 2-8 MiB) and one output buffer, reused; the sink must copy what it keeps.
public final class ZstdDecompressor {
    private let context: OpaquePointer
    private let buffer: UnsafeMutableRawBufferPointer
    /// Inside a frame: it has begun and not yet ended.
    private var inFrame = false
    private var completedFrames = 0
    private var sawInput = false
    /// Compressed bytes consumed so far, for error messages.
    public private(set) var consumed: Int64 = 0

    public init() throws(ZstdError) {
        guard let context = ZSTD_createDCtx() else { throw ZstdError(.failed, "ZSTD_createDCtx: out of memory") }
        self.context = context
        buffer = .allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 64)
    }

    deinit {
        ZSTD_freeDCtx(context)
        buffer.deallocate()
    }

    /// Decompresses `input`; the decompressed bytes ready so far go to `sink`.
    public func decompress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        sawInput = true
        var source = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        var outputFull = false
        while source.pos < source.size || outputFull {
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let before = source.pos
            let result = ZSTD_decompressStream(context, &out, &source)
            if ZSTD_isError(result) != 0 {
                let error = ZstdError.from(code: result, operation: "decompressing")
                let at = consumed + Int64(source.pos - before)
                if error.kind == .notZstd && completedFrames > 0 {
                    throw ZstdError(
                        .corrupt,
                        """
                        has data after its last complete zstd frame (at byte \(at)) that is not zstd: damaged, or \
                        something was appended
                        """
                    )
                }
                throw ZstdError(error.kind, "\(error.description) (at compressed byte \(at))")
            }
            consumed += Int64(source.pos - before)
            if out.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<out.pos])) }
            inFrame = result != 0
            // A full buffer may hold back more output, unless the frame just ended: calling
            // again would start reading the next frame, which may not exist.
            outputFull = out.pos == out.size && inFrame
            if result == 0 { completedFrames += 1 }
        }
    }

    /// Ends the stream: refuses input that stopped inside a frame, or held no frame at all.
    public func finish() throws(ZstdError) {
        guard sawInput else { throw ZstdError(.truncated, "is empty: there is no zstd frame in it") }
        if inFrame {
            throw ZstdError(
                .truncated,
                "ends in the middle of a zstd frame after \(consumed) bytes: the file was cut short (truncated)")
        }
    }
}

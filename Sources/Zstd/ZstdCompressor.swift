import CZstd

/// Streaming zstd compression with libzstd: one frame, its content checksum on (so `zstd -d`
/// and our own decompressor find any damage), compressed on `workers` threads of libzstd's
/// own. Memory is fixed by the level and the number of workers, never by the input's size:
/// the input goes through in whatever pieces the caller hands over, the output comes back
/// through a fixed buffer.
///
/// Push bytes with `compress(_:into:)`, end with `finish(into:)`; the sink receives the
/// compressed bytes, in order, and must copy what it keeps (the buffer is reused).
public final class ZstdCompressor {
    public static let defaultLevel = 3
    /// Levels 20-22 ("ultra") want windows of up to 128 MiB, beyond the memory dbbackup allows itself.
    public static let levels: ClosedRange<Int> = 1...19
    /// Input per worker job. libzstd's default at level 3 is 8 MiB, and it keeps several jobs'
    /// input and output per worker: measured here, peak RSS went from 57 to 138 MiB (2 workers)
    /// between a 16 MiB and a 256 MiB input at the default; with 1 MiB jobs it stays flat, and
    /// a whole encode (zstd on 2 workers, age, digests) peaks at 40 MiB (2 MiB jobs: 55).
    /// Smaller jobs cost a little ratio (each job restarts its match tables from a 256 KiB
    /// overlap): WordNet as SQLite compressed 2.228× with 8 MiB jobs, 2.210× with 1 MiB.
    public static let defaultJobSize = 1 << 20

    private let context: OpaquePointer
    private let buffer: UnsafeMutableRawBufferPointer
    /// Worker threads libzstd actually uses (0 when it was built without threads).
    public let workers: Int
    private var finished = false

    /// - Parameters:
    ///   - level: 1-19, default 3 (as `zstd` itself).
    ///   - workers: compression threads; 0 compresses on the caller's thread.
    ///   - jobSize: input per worker job (memory grows with it, times the workers).
    ///   - pledgedSize: the exact input size, when known: written into the frame header (as
    ///     `zstd FILE` does), and a different size read is reported as `sizeMismatch`.
    public init(
        level: Int = defaultLevel, workers: Int = 0, jobSize: Int = defaultJobSize, pledgedSize: Int64? = nil
    ) throws(ZstdError) {
        guard Self.levels.contains(level) else {
            throw ZstdError(
                .failed, "compression level \(level) is outside \(Self.levels.lowerBound)-\(Self.levels.upperBound)")
        }
        guard let context = ZSTD_createCCtx() else { throw ZstdError(.failed, "ZSTD_createCCtx: out of memory") }
        self.context = context
        buffer = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 64)
        var threads = 0
        do {
            _ = try checked(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)), "setting the level")
            _ = try checked(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "turning the checksum on")
            if workers > 0, ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, Int32(workers))) == 0 {
                threads = workers
                _ = try checked(ZSTD_CCtx_setParameter(context, ZSTD_c_jobSize, Int32(jobSize)), "setting the job size")
            }
            if let pledgedSize {
                _ = try checked(ZSTD_CCtx_setPledgedSrcSize(context, UInt64(pledgedSize)), "setting the input size")
            }
        } catch {
            ZSTD_freeCCtx(context)
            buffer.deallocate()
            throw error
        }
        self.workers = threads
    }

    deinit {
        ZSTD_freeCCtx(context)
        buffer.deallocate()
    }

    /// Compresses `input`; whatever compressed output is ready goes to `sink`.
    public func compress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "compress after finish")
        guard let base = input.baseAddress, !input.isEmpty else { return }
        var source = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        while source.pos < source.size {
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            _ = try checked(ZSTD_compressStream2(context, &out, &source, ZSTD_e_continue), "compressing")
            if out.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<out.pos])) }
        }
    }

    /// Ends the frame: the rest of the compressed data and the checksum go to `sink`.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "finish twice")
        var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        var remaining = 1
        while remaining != 0 {
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            remaining = try checked(ZSTD_compressStream2(context, &out, &source, ZSTD_e_end), "ending the frame")
            if out.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<out.pos])) }
        }
        finished = true
    }
}

import Glibc
import CLinux

/// Copies byte ranges of one open file to the same offsets of another: inside the kernel
/// (copy_file_range, no pass through user space) where the two filesystems allow it, and
/// otherwise (another filesystem, one that cannot) through a buffer of its own.
final class RangeCopier {
    private let input: Int32
    private let inputPath: String
    private let output: Int32
    private let outputPath: String
    private var inKernel: Bool
    private var buffer: UnsafeMutableRawBufferPointer?

    /// - Parameter inKernel: false copies through the buffer from the start (tests use it).
    init(from input: Int32, _ inputPath: String, to output: Int32, _ outputPath: String, inKernel: Bool = true) {
        (self.input, self.inputPath, self.output, self.outputPath) = (input, inputPath, output, outputPath)
        self.inKernel = inKernel
    }

    deinit { buffer?.deallocate() }

    /// Copies all of `range`; a short input is an error, never a short copy.
    func copy(_ range: Range<Int64>) throws(SystemError) {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let length = range.upperBound - offset
            offset += inKernel ? try copyInKernel(at: offset, length: length) : try copyThroughBuffer(at: offset, length: length)
        }
    }

    /// Bytes copied, or 0 once it has switched to the buffer for good.
    private func copyInKernel(at offset: Int64, length: Int64) throws(SystemError) -> Int64 {
        let copied = dbb_copy_range(input, output, offset, UInt(min(length, 1 << 30)))
        if copied > 0 { return Int64(copied) }
        if copied == 0 { throw endOfInput() }
        switch errno {
        case EINTR: return 0
        // Another filesystem, one that cannot, or a seccomp filter that does not allow the
        // call (EPERM): the buffer copies what the kernel would not.
        case EXDEV, ENOSYS, EOPNOTSUPP, EINVAL, EBADF, EPERM:
            inKernel = false
            return 0
        default: throw SystemError(operation: "copy_file_range to", path: outputPath, errno: errno)
        }
    }

    private func copyThroughBuffer(at offset: Int64, length: Int64) throws(SystemError) -> Int64 {
        let buffer = self.buffer ?? UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        self.buffer = buffer
        let want = Int(min(length, Int64(buffer.count)))
        let got = try FileSystem.retryingEINTR("read", inputPath) { pread(input, buffer.baseAddress, want, off_t(offset)) }
        if got == 0 { throw endOfInput() }
        var written = 0
        while written < got {
            written += try FileSystem.retryingEINTR("write", outputPath) {
                pwrite(output, buffer.baseAddress! + written, got - written, off_t(offset) + written)
            }
        }
        return Int64(got)
    }

    private func endOfInput() -> SystemError {
        SystemError(operation: "read (the file ended early)", path: inputPath, errno: EIO)
    }
}

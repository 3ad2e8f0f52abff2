import CLinux
import Glibc
import SystemCalls

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
            offset +=
                inKernel
                ? try copyInKernel(at: offset, length: length) : try copyThroughBuffer(at: offset, length: length)
        }
    }

    /// Bytes copied, or 0 once it has switched to the buffer for good.
    private func copyInKernel(at offset: Int64, length: Int64) throws(SystemError) -> Int64 {
        let chunk = Int(min(length, 1 << 30))
        switch Syscalls.copyRange(input, output, at: offset, length: chunk, path: outputPath) {
        case .success(0): throw endOfInput()
        case .success(let copied): return Int64(copied)
        case .failure(let error): return try fallBack(error)
        }
    }

    /// 0 (the buffer copies from now on) where the kernel cannot copy this pair of files.
    private func fallBack(_ error: SystemError) throws(SystemError) -> Int64 {
        switch error.errno {
        // Another filesystem, one that cannot, or a seccomp filter that does not allow the
        // call (EPERM): the buffer copies what the kernel would not.
        case EXDEV, ENOSYS, EOPNOTSUPP, EINVAL, EBADF, EPERM:
            inKernel = false
            return 0
        default: throw error
        }
    }

    private func copyThroughBuffer(at offset: Int64, length: Int64) throws(SystemError) -> Int64 {
        let buffer = self.buffer ?? UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        self.buffer = buffer
        let want = Int(min(length, Int64(buffer.count)))
        let got = try Syscalls.read(
            input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset, path: inputPath)
        if got == 0 { throw endOfInput() }
        var written = 0
        while written < got {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[written..<got])
            written += try Syscalls.write(output, rest, at: offset + Int64(written), path: outputPath)
        }
        return Int64(got)
    }

    private func endOfInput() -> SystemError {
        SystemError(operation: "read (the file ended early)", path: inputPath, errno: EIO)
    }
}

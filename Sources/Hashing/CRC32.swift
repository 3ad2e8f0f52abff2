import CZlib

/// CRC-32 as zlib, PNG and S3's `x-amz-checksum-crc32` compute it (IEEE 802.3, reflected
/// polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), incrementally, by zlib's
/// `crc32_z` (about twice the speed of a table-driven loop in Swift on this project's
/// machines, and the implementation every other S3 client here relies on).
///
/// S3 stores the CRC-32 of each part of a multipart upload that declares it, and answers
/// `CompleteMultipartUpload` with a checksum of those checksums: what `aws s3 cp` sends.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    /// The CRC-32 of a whole buffer at once.
    public init(_ bytes: some Sequence<UInt8>) {
        update(bytes)
    }

    /// Four bytes, big-endian, as S3 wants the value (base64 of these in its headers).
    public var bytes: [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        // zlib answers a null buffer with the initial value instead of the running one.
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        value = UInt32(
            truncatingIfNeeded: crc32_z(UInt(value), base.assumingMemoryBound(to: UInt8.self), buffer.count))
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Array(bytes).withUnsafeBytes { update($0) }
    }
}

/// CRC-32 as zlib, PNG and S3's `x-amz-checksum-crc32` compute it (IEEE 802.3, reflected
/// polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), incrementally, eight bytes a
/// step (slicing-by-8: eight tables of 256 entries, 8 KiB, built once).
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
        var crc = ~value
        Self.tables.withUnsafeBufferPointer { table in
            var index = 0
            let count = buffer.count
            while count - index >= 8 {
                let low = buffer.loadUnaligned(fromByteOffset: index, as: UInt32.self).littleEndian ^ crc
                let high = buffer.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self).littleEndian
                crc =
                    table[7 * 256 + Int(low & 0xff)] ^ table[6 * 256 + Int((low >> 8) & 0xff)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xff)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xff)] ^ table[2 * 256 + Int((high >> 8) & 0xff)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xff)] ^ table[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = table[Int((crc ^ UInt32(buffer[index])) & 0xff)] ^ (crc >> 8)
                index += 1
            }
        }
        value = ~crc
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// Table `k` gives the CRC of a byte followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            var crc = tables[byte]
            for slice in 1..<8 {
                crc = tables[Int(crc & 0xff)] ^ (crc >> 8)
                tables[slice * 256 + byte] = crc
            }
        }
        return tables
    }()
}

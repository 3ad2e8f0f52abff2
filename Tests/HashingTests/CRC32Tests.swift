import Hashing
import Testing

/// CRC-32 as S3's `x-amz-checksum-crc32` wants it (the part checksum `aws s3 cp` sends).
@Suite struct CRC32Tests {
    /// One bit at a time, straight from the definition: what zlib's must equal.
    static func bitwise(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    @Test("CRC-32 gives the catalogued check values, and S3's base64 of the big-endian bytes")
    func vectors() {
        #expect(CRC32(Array("123456789".utf8)).value == 0xCBF4_3926)
        #expect(CRC32(Array("The quick brown fox jumps over the lazy dog".utf8)).value == 0x414F_A339)
        #expect(CRC32([UInt8]()).value == 0)
        #expect(CRC32(Array("123456789".utf8)).bytes == [0xCB, 0xF4, 0x39, 0x26])
        #expect(CRC32(Array("123456789".utf8)).bytes.base64String == "y/Q5Jg==")
    }

    @Test("fed in pieces of every length and alignment, CRC-32 equals the bit-by-bit definition")
    func pieces() {
        var state: UInt32 = 12345
        let bytes = (0..<4099).map { _ -> UInt8 in
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(truncatingIfNeeded: state >> 16)
        }
        let expected = Self.bitwise(bytes)
        #expect(CRC32(bytes).value == expected)
        for step in 1...17 {
            var crc = CRC32()
            for start in stride(from: 0, to: bytes.count, by: step) {
                crc.update(bytes[start..<min(bytes.count, start + step)])
                crc.update(UnsafeRawBufferPointer(start: nil, count: 0))  // nothing: zlib would restart
            }
            #expect(crc.value == expected, "pieces of \(step)")
        }
    }
}

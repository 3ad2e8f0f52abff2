/// Bech32 (BIP 173) as age uses it: no length limit, all lowercase or all uppercase, the
/// checksum computed over the lowercase form.
enum Bech32 {
    static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

    enum Problem: Error, Equatable {
        case mixedCase, noSeparator, emptyPrefix, invalidCharacter(Character, position: Int), tooShort, badChecksum,
            badPadding
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        var check: UInt32 = 1
        for value in values {
            let top = check >> 25
            check = (check & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> bit) & 1 == 1 { check ^= generator[bit] }
        }
        return check
    }

    private static func expand(_ prefix: [UInt8]) -> [UInt8] {
        prefix.map { $0 >> 5 } + [0] + prefix.map { $0 & 31 }
    }

    /// `prefix` (the human-readable part) and `data` as one string; uppercase when asked.
    static func encode(prefix: String, data: [UInt8], uppercase: Bool = false) -> String {
        let lowerPrefix = Array(prefix.lowercased().utf8)
        let groups = regroup(data, from: 8, to: 5, pad: true)!
        let check = polymod(expand(lowerPrefix) + groups + [0, 0, 0, 0, 0, 0]) ^ 1
        let checksum = (0..<6).map { UInt8((check >> (5 * (5 - UInt32($0)))) & 31) }
        let text = String(
            decoding: lowerPrefix + [UInt8(ascii: "1")] + (groups + checksum).map { alphabet[Int($0)] }, as: UTF8.self)
        return uppercase ? text.uppercased() : text
    }

    /// The prefix (lowercase) and the data bytes of a Bech32 string.
    static func decode(_ text: String) -> Result<(prefix: String, data: [UInt8]), Problem> {
        let bytes = Array(text.utf8)
        let hasLower = bytes.contains { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
        let hasUpper = bytes.contains { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
        if hasLower && hasUpper { return .failure(.mixedCase) }
        let lower = Array(text.lowercased().utf8)
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")) else { return .failure(.noSeparator) }
        guard separator > 0 else { return .failure(.emptyPrefix) }
        let prefix = Array(lower[..<separator])
        if let bad = prefix.firstIndex(where: { $0 < 33 || $0 > 126 }) {
            return .failure(.invalidCharacter(Character(Unicode.Scalar(prefix[bad])), position: bad))
        }
        var values: [UInt8] = []
        for (offset, byte) in lower[(separator + 1)...].enumerated() {
            guard let value = alphabet.firstIndex(of: byte) else {
                let scalar = String(decoding: [byte], as: UTF8.self).first ?? "?"
                return .failure(.invalidCharacter(scalar, position: separator + 1 + offset))
            }
            values.append(UInt8(value))
        }
        guard values.count >= 6 else { return .failure(.tooShort) }
        guard polymod(expand(prefix) + values) == 1 else { return .failure(.badChecksum) }
        guard let data = regroup(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else {
            return .failure(.badPadding)
        }
        return .success((String(decoding: prefix, as: UTF8.self), data))
    }

    /// Regroups bits (8 to 5 when encoding, 5 to 8 when decoding). Decoding refuses leftover
    /// bits that are not zero or make a whole group: a string has one encoding only.
    private static func regroup(_ values: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0
        var bits = 0
        var out: [UInt8] = []
        let mask = (1 << to) - 1
        for value in values {
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((accumulator >> bits) & mask))
            }
            accumulator &= (1 << bits) - 1
        }
        if pad {
            if bits > 0 { out.append(UInt8((accumulator << (to - bits)) & mask)) }
        } else if bits >= from || accumulator != 0 {
            return nil
        }
        return out
    }
}

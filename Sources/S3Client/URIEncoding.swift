/// Percent-encoding as SigV4 and S3 want it: the UTF-8 bytes of everything but the unreserved
/// characters `A-Z a-z 0-9 - . _ ~` become `%XX` with uppercase hex digits. S3 keys keep `/`
/// as the path separator, and S3 paths are encoded once (never double-encoded).
enum URIEncoding {
    static func encode(_ text: String, keepingSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepingSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Undoes form-style URL encoding: `%XX` to its byte and `+` to a space, as S3's
    /// `encoding-type=url` listings need (S3 sends a real `+` as `%2B`). Malformed escapes stay.
    static func decodeForm(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}

/// One query parameter, unencoded. An empty value is sent and signed as `name=`.
public struct QueryItem: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String = "") {
        self.name = name
        self.value = value
    }
}

extension [QueryItem] {
    /// The canonical query string: each name and value URI-encoded, sorted by encoded name and
    /// then encoded value (byte order), joined as `name=value&…`. The same string is sent on the wire.
    var canonicalQueryString: String {
        let encoded: [(name: [UInt8], value: [UInt8])] = map {
            (
                [UInt8](URIEncoding.encode($0.name, keepingSlash: false).utf8),
                [UInt8](URIEncoding.encode($0.value, keepingSlash: false).utf8)
            )
        }
        let sorted = encoded.sorted { lhs, rhs in
            lhs.name == rhs.name
                ? lhs.value.lexicographicallyPrecedes(rhs.value) : lhs.name.lexicographicallyPrecedes(rhs.name)
        }
        let pairs: [String] = sorted.map { String(decoding: $0.name + [UInt8(ascii: "=")] + $0.value, as: UTF8.self) }
        return pairs.joined(separator: "&")
    }
}

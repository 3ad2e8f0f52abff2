import COpenSSL

/// An incremental message digest over libcrypto's EVP interface (SHA-256 uses the CPU's SHA
/// extensions where present). One value per stream; `finalize()` ends it.
public struct Digest: ~Copyable {
    public enum Algorithm: Sendable {
        case sha256, md5

        fileprivate var evp: OpaquePointer {
            switch self {
            case .sha256: EVP_sha256()
            case .md5: EVP_md5()
            }
        }
    }

    private let context: OpaquePointer

    public init(_ algorithm: Algorithm) {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, algorithm.evp, nil) == 1 else {
            fatalError("libcrypto could not initialise a digest context (out of memory)")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return Array(out.prefix(Int(length)))
    }

    /// The digest of a whole buffer at once.
    public static func hash(_ algorithm: Algorithm, _ bytes: some Sequence<UInt8>) -> [UInt8] {
        var digest = Digest(algorithm)
        digest.update(bytes)
        return digest.finalize()
    }
}

/// HMAC-SHA256, as SigV4 needs it.
public func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    key.withUnsafeBufferPointer { keyBuffer in
        message.withUnsafeBufferPointer { messageBuffer in
            _ = HMAC(
                EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                messageBuffer.baseAddress, messageBuffer.count, &out, &length)
        }
    }
    return Array(out.prefix(Int(length)))
}

extension Sequence<UInt8> {
    /// Lowercase hexadecimal, as SHA-256 sums are written everywhere in dbbackup.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var chars: [UInt8] = []
        chars.reserveCapacity(64)
        for byte in self {
            chars.append(digits[Int(byte >> 4)])
            chars.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Standard base64 with padding (Content-MD5 wants it).
    public var base64String: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let bytes = Array(self)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0f) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The digests of a whole file, computed once and handed to whoever needs them (the S3
/// upload needs SHA-256 and MD5 of exactly the bytes the snapshot produced).
public struct FileDigests: Sendable, Equatable {
    public let sha256: [UInt8]
    /// Only when asked for: MD5 costs as much as SHA-256 again.
    public let md5: [UInt8]?
    public let size: Int64

    public init(sha256: [UInt8], md5: [UInt8]?, size: Int64) {
        self.sha256 = sha256
        self.md5 = md5
        self.size = size
    }
}

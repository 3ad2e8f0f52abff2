import COpenSSL

/// A libcrypto call that failed, with libcrypto's own reason when it left one.
public struct CryptoError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let reason: String

    init(_ operation: String) {
        self.operation = operation
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.reason = reasons.last ?? "no reason given"
    }

    public var description: String { "libcrypto: \(operation) failed: \(reason)" }
}

/// Whether two byte strings are equal, in time that does not depend on where they differ
/// (for MACs: an early exit would tell an attacker how much of a forgery was right).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 }
    }
}

/// Bytes from libcrypto's CSPRNG (seeded by the kernel's getrandom).
public func secureRandomBytes(_ count: Int) throws(CryptoError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw CryptoError("RAND_bytes") }
    return bytes
}

import COpenSSL

/// HKDF-SHA-256 (RFC 5869): extract with `salt`, then expand with `info` to `length` bytes.
/// An empty salt is HKDF's default (a string of zeros as long as the hash).
public func hkdfSHA256(key: [UInt8], salt: [UInt8], info: [UInt8], length: Int = 32) throws(CryptoError) -> [UInt8] {
    guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw CryptoError("EVP_PKEY_CTX_new_id(HKDF)") }
    defer { EVP_PKEY_CTX_free(context) }
    guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_CTX_set_hkdf_md(context, EVP_sha256()) == 1,
        EVP_PKEY_CTX_set1_hkdf_key(context, key, Int32(key.count)) == 1
    else {
        throw CryptoError("HKDF setup")
    }
    if !salt.isEmpty, EVP_PKEY_CTX_set1_hkdf_salt(context, salt, Int32(salt.count)) != 1 {
        throw CryptoError("HKDF salt")
    }
    if !info.isEmpty, EVP_PKEY_CTX_add1_hkdf_info(context, info, Int32(info.count)) != 1 {
        throw CryptoError("HKDF info")
    }
    var out = [UInt8](repeating: 0, count: length)
    var outLength = length
    guard EVP_PKEY_derive(context, &out, &outLength) == 1, outLength == length else { throw CryptoError("HKDF derive") }
    return out
}

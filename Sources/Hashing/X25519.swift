import COpenSSL

/// X25519 Diffie-Hellman (RFC 7748) over libcrypto's EVP_PKEY, on raw 32-byte keys.
public enum X25519 {
    public static let keySize = 32

    /// The public key (the scalar times the base point) of a 32-byte private key.
    public static func publicKey(privateKey: [UInt8]) throws(CryptoError) -> [UInt8] {
        let key = try privateKeyObject(privateKey)
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: keySize)
        var length = keySize
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == keySize else {
            throw CryptoError("EVP_PKEY_get_raw_public_key(X25519)")
        }
        return out
    }

    /// The shared secret of `privateKey` and a peer's public key. libcrypto refuses (and so
    /// does this) a result of all zeros, which a low-order peer key produces: RFC 7748 §6.1.
    public static func sharedSecret(privateKey: [UInt8], peerPublicKey: [UInt8]) throws(CryptoError) -> [UInt8] {
        let key = try privateKeyObject(privateKey)
        defer { EVP_PKEY_free(key) }
        guard peerPublicKey.count == keySize,
            let peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, peerPublicKey, keySize)
        else {
            throw CryptoError("EVP_PKEY_new_raw_public_key(X25519)")
        }
        defer { EVP_PKEY_free(peer) }
        guard let context = EVP_PKEY_CTX_new(key, nil) else { throw CryptoError("EVP_PKEY_CTX_new(X25519)") }
        defer { EVP_PKEY_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: keySize)
        var length = keySize
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peer) == 1,
            EVP_PKEY_derive(context, &out, &length) == 1, length == keySize
        else {
            throw CryptoError("X25519 derive")
        }
        guard !constantTimeEqual(out, [UInt8](repeating: 0, count: keySize)) else {
            throw CryptoError("X25519 derive (the peer key has low order)")
        }
        return out
    }

    private static func privateKeyObject(_ privateKey: [UInt8]) throws(CryptoError) -> OpaquePointer {
        guard privateKey.count == keySize,
            let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, privateKey, keySize)
        else {
            throw CryptoError("EVP_PKEY_new_raw_private_key(X25519)")
        }
        return key
    }
}

import Glibc

/// The credentials one request is signed with.
public struct S3Credentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    /// The session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    public var sessionToken: String?
    /// When temporary credentials stop working, in seconds since 1970; nil for long-lived keys.
    public var expiration: Int64?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil, expiration: Int64? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

extension S3Credentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "S3Credentials(accessKey: \(accessKey), secretKey: \(S3Configuration.maskedSecret(secretKey))"
            + (sessionToken == nil ? "" : ", sessionToken: ****") + (expiration.map { ", expiration: \($0)" } ?? "")
            + ")"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessKey": accessKey, "secretKey": S3Configuration.maskedSecret(secretKey),
                "sessionToken": sessionToken == nil ? "nil" : "****", "expiration": expiration as Any,
            ],
            displayStyle: .struct)
    }
}

/// Gives each request its credentials: the configured keys, or an instance role's temporary
/// credentials, fetched when first needed and again shortly before they expire.
final class CredentialProvider: Sendable {
    private enum Source {
        case fixed(S3Credentials)
        case instance(InstanceMetadata)
    }

    private let source: Source

    init(_ configuration: S3Configuration, policy: TransferPolicy) {
        switch configuration.credentialSource {
        case .keys:
            source = .fixed(
                S3Credentials(
                    accessKey: configuration.accessKey, secretKey: configuration.secretKey,
                    sessionToken: configuration.sessionToken.flatMap { $0.isEmpty ? nil : $0 }))
        case .instanceMetadata(let endpoint):
            source = .instance(
                InstanceMetadata(
                    endpoint: endpoint, caBundlePath: policy.caBundlePath,
                    bucket: configuration.bucket))
        }
    }

    /// The credentials to sign the next request with.
    func credentials() throws(S3Error) -> S3Credentials {
        switch source {
        case .fixed(let credentials): credentials
        case .instance(let metadata): try metadata.credentials()
        }
    }

    /// Forgets cached temporary credentials (the store said they expired or are invalid).
    /// Returns whether there was anything to refresh: fixed keys cannot be.
    func invalidate() -> Bool {
        guard case .instance(let metadata) = source else { return false }
        metadata.invalidate()
        return true
    }

    /// Who the store sees, for error hints: nil for configured keys ("this access key").
    var principal: String? {
        guard case .instance(let metadata) = source else { return nil }
        return "the instance role" + (metadata.roleName.map { " \($0)" } ?? "")
    }

    /// Every secret that must never appear in a message.
    var secrets: [String] {
        switch source {
        case .fixed(let credentials): [credentials.secretKey] + (credentials.sessionToken.map { [$0] } ?? [])
        case .instance(let metadata): metadata.cachedSecrets
        }
    }
}

/// Seconds since 1970, now (wall clock: credentials expire at a wall-clock time).
func wallClockSeconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec)
}

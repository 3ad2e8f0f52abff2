/// Where and as whom to talk to an S3-compatible store.
///
/// `description`, `debugDescription` and the reflection `dump()` uses all mask the secret key
/// (first four characters and `****`; shorter secrets `****`), so logging a configuration is safe.
public struct S3Configuration: Sendable, Equatable {
    /// Base URL of the store, e.g. `http://minio-host:9000`; empty means AWS
    /// (`https://s3.REGION.amazonaws.com`). A URL without a scheme is taken as `https://`.
    public var endpoint: String
    /// The bucket; it must already exist (the client never creates buckets).
    public var bucket: String
    /// Signing region; empty means `us-east-1`.
    public var region: String
    /// `true`: `http://host/BUCKET/key`; `false`: virtual-hosted `http://BUCKET.host/key`
    /// (falls back to path style where the bucket name is not a DNS name or the host is an IP address).
    public var forcePathStyle: Bool
    /// The key pair requests are signed with when `credentialSource` is `.keys`.
    public var accessKey: String
    public var secretKey: String
    /// The session token of temporary credentials given as keys (sent as `x-amz-security-token`).
    public var sessionToken: String?
    /// Where the signing credentials come from: the keys above, or an instance's role.
    public var credentialSource: CredentialSource
    /// Encryption at rest the store applies to every object uploaded (single PUT and multipart).
    public var serverSideEncryption: ServerSideEncryption?
    /// `x-amz-storage-class` of every object uploaded, e.g. `STANDARD_IA`; nil: the store's default.
    public var storageClass: String?

    public init(
        endpoint: String = "",
        bucket: String,
        region: String = "",
        forcePathStyle: Bool = false,
        accessKey: String,
        secretKey: String,
        sessionToken: String? = nil,
        credentialSource: CredentialSource = .keys,
        serverSideEncryption: ServerSideEncryption? = nil,
        storageClass: String? = nil
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.forcePathStyle = forcePathStyle
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.credentialSource = credentialSource
        self.serverSideEncryption = serverSideEncryption
        self.storageClass = storageClass
    }

    /// Where a client's credentials come from.
    public enum CredentialSource: Sendable, Equatable {
        /// `accessKey`, `secretKey` (and `sessionToken`, if any) of the configuration.
        case keys
        /// The role of the cloud instance this runs on, from its metadata service with IMDSv2
        /// (a session token PUT, then GETs), cached until shortly before the credentials expire.
        /// `endpoint` is the service's base URL, `InstanceMetadata.defaultEndpoint` on EC2.
        case instanceMetadata(endpoint: String)
    }

    /// Server-side encryption: `x-amz-server-side-encryption` and, for KMS, the key to use
    /// (`x-amz-server-side-encryption-aws-kms-key-id`; nil: the account's default `aws/s3` key).
    public enum ServerSideEncryption: Sendable, Equatable {
        /// SSE-S3: `AES256`, keys managed by the store.
        case s3
        /// SSE-KMS: `aws:kms`, with a KMS key id, ARN or alias, or the default key.
        case kms(keyID: String?)

        /// The header value: `AES256` or `aws:kms`.
        public var headerValue: String {
            switch self {
            case .s3: "AES256"
            case .kms: "aws:kms"
            }
        }
    }

    /// The KMS key of `.kms(keyID:)` encryption, if one is named.
    public var kmsKeyID: String? {
        if case .kms(let keyID)? = serverSideEncryption { keyID } else { nil }
    }

    /// The region used for signing and for the AWS endpoint.
    public var effectiveRegion: String {
        let trimmed = region.trimmingASCIIWhitespace
        return trimmed.isEmpty ? "us-east-1" : trimmed
    }

    /// A secret as it may be shown, everywhere in dbbackup: its first four characters and
    /// `****` (`mini****`) when that gives nothing away, only `****` for a secret shorter than
    /// 8 characters, so a short secret is never half shown.
    public static func maskedSecret(_ secret: String) -> String {
        secret.count >= 8 ? String(secret.prefix(4)) + "****" : "****"
    }
}

extension S3Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        let shownEndpoint = endpoint.isEmpty ? "AWS" : endpoint
        return "S3Configuration(endpoint: \(shownEndpoint), bucket: \(bucket), region: \(effectiveRegion), "
            + "forcePathStyle: \(forcePathStyle), accessKey: \(accessKey), secretKey: \(Self.maskedSecret(secretKey))"
            + (sessionToken == nil ? "" : ", sessionToken: ****") + ", credentials: \(credentialSourceDescription))"
    }

    private var credentialSourceDescription: String {
        switch credentialSource {
        case .keys: "keys"
        case .instanceMetadata(let endpoint): "instance role via \(endpoint)"
        }
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoint": endpoint,
                "bucket": bucket,
                "region": region,
                "forcePathStyle": forcePathStyle,
                "accessKey": accessKey,
                "secretKey": Self.maskedSecret(secretKey),
                "sessionToken": sessionToken == nil ? "nil" : "****",
                "credentialSource": credentialSourceDescription,
                "serverSideEncryption": serverSideEncryption.map(\.headerValue) ?? "nil",
                "storageClass": storageClass ?? "nil",
            ], displayStyle: .struct)
    }
}

extension String {
    /// Without leading and trailing spaces, tabs, CR and LF (scalar-wise, so "\r\n" goes too).
    var trimmingASCIIWhitespace: String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
            let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}

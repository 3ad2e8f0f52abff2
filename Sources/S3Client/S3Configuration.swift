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
    public var accessKey: String
    public var secretKey: String

    public init(
        endpoint: String = "",
        bucket: String,
        region: String = "",
        forcePathStyle: Bool = false,
        accessKey: String,
        secretKey: String
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.forcePathStyle = forcePathStyle
        self.accessKey = accessKey
        self.secretKey = secretKey
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
            + "forcePathStyle: \(forcePathStyle), accessKey: \(accessKey), secretKey: \(Self.maskedSecret(secretKey)))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "endpoint": endpoint,
            "bucket": bucket,
            "region": region,
            "forcePathStyle": forcePathStyle,
            "accessKey": accessKey,
            "secretKey": Self.maskedSecret(secretKey),
        ], displayStyle: .struct)
    }
}

extension String {
    /// Without leading and trailing spaces, tabs, CR and LF (scalar-wise, so "\r\n" goes too).
    var trimmingASCIIWhitespace: String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }
}

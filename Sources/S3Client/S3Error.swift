/// A failed S3 operation: what was attempted, and what the server or the network said.
///
/// The description names the operation and object, the HTTP status, S3's `<Code>` and
/// `<Message>` (or libcurl's error text) and a hint for the common causes. It never contains
/// the secret key, the Authorization header or a signature.
public struct S3Error: Error, Sendable, Equatable {
    /// The broad class of failure.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The server answered with an error status (or an `<Error>` document).
        public static let server = Kind(rawValue: "server")
        /// No usable answer: connection refused, DNS, TLS, timeout, reset (libcurl error).
        public static let transport = Kind(rawValue: "transport")
        /// Reading or writing the local file failed.
        public static let localFile = Kind(rawValue: "local file")
        /// The configuration cannot work (bad endpoint URL, empty bucket).
        public static let invalidConfiguration = Kind(rawValue: "invalid configuration")
        /// The server answered 2xx with something the client cannot use.
        public static let invalidResponse = Kind(rawValue: "invalid response")
        /// No credentials to sign with: the instance metadata service is missing, has no role, or failed.
        public static let credentials = Kind(rawValue: "credentials")
        /// The caller's request was refused before anything was sent (e.g. unusable metadata).
        public static let invalidArgument = Kind(rawValue: "invalid argument")
        public var description: String { rawValue }
    }

    /// S3 error codes that get special treatment (modelled on swift-system's `Errno`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let signatureDoesNotMatch = Code(rawValue: "SignatureDoesNotMatch")
        public static let invalidAccessKeyId = Code(rawValue: "InvalidAccessKeyId")
        public static let noSuchBucket = Code(rawValue: "NoSuchBucket")
        public static let noSuchKey = Code(rawValue: "NoSuchKey")
        public static let noSuchUpload = Code(rawValue: "NoSuchUpload")
        public static let accessDenied = Code(rawValue: "AccessDenied")
        public static let slowDown = Code(rawValue: "SlowDown")
        public static let internalError = Code(rawValue: "InternalError")
        public static let serviceUnavailable = Code(rawValue: "ServiceUnavailable")
        public static let requestTimeout = Code(rawValue: "RequestTimeout")
        public static let requestTimeTooSkewed = Code(rawValue: "RequestTimeTooSkewed")
        public static let badDigest = Code(rawValue: "BadDigest")
        public static let invalidDigest = Code(rawValue: "InvalidDigest")
        public static let contentSHA256Mismatch = Code(rawValue: "XAmzContentSHA256Mismatch")
        public static let entityTooSmall = Code(rawValue: "EntityTooSmall")
        public static let entityTooLarge = Code(rawValue: "EntityTooLarge")
        /// GET of an object in an archive class (GLACIER, DEEP_ARCHIVE) that is not restored.
        public static let invalidObjectState = Code(rawValue: "InvalidObjectState")
        public static let invalidStorageClass = Code(rawValue: "InvalidStorageClass")
        /// The bucket is in another region (AWS answers 301 to the wrong regional endpoint).
        public static let permanentRedirect = Code(rawValue: "PermanentRedirect")
        /// The signature's region is not the bucket's ("expecting 'eu-west-1'").
        public static let authorizationHeaderMalformed = Code(rawValue: "AuthorizationHeaderMalformed")
        public static let illegalLocationConstraint = Code(rawValue: "IllegalLocationConstraintException")
        public static let expiredToken = Code(rawValue: "ExpiredToken")
        public static let invalidToken = Code(rawValue: "InvalidToken")
        public static let tokenRefreshRequired = Code(rawValue: "TokenRefreshRequired")
        public static let kmsNotFound = Code(rawValue: "KMS.NotFoundException")
        /// Temporary credentials the store no longer accepts: fetching new ones may help.
        static let credentialsExpired: Set<Code> = [.expiredToken, .invalidToken, .tokenRefreshRequired]
        public var description: String { rawValue }
    }

    public var kind: Kind
    /// `PUT`, `GET`, `DELETE`, `multipart upload (part 3 of 7)` …
    public var operation: String
    public var bucket: String
    public var key: String
    /// The endpoint as configured (for unreachable-endpoint messages).
    public var endpoint: String = ""
    public var httpStatus: Int?
    /// S3's `<Code>` from the error body.
    public var code: Code?
    /// S3's `<Message>`, libcurl's error text, or the local error.
    public var message: String
    /// libcurl's `CURLcode` for transport failures.
    public var curlCode: Int?
    public var requestID: String?
    /// How many attempts were made before giving up.
    public var attempts: Int = 1
    /// No attempt reached the store: each failed to resolve or to connect to its address, so
    /// nothing was sent, and nothing can have been stored (no late PUT to fear either).
    public var neverConnected = false
    /// The permission this operation needs (for AccessDenied hints).
    public var requiredPermission: String?
    /// Extra context, e.g. that an abandoned multipart upload could not be aborted.
    public var note: String?
    /// The bucket's real region, when the store said the request went to the wrong one.
    public var bucketRegion: String?
    /// Who made the request, for permission hints: "the instance role NAME" with instance
    /// credentials; nil means the configured access key.
    public var principal: String?

    public init(
        kind: Kind, operation: String, bucket: String, key: String, httpStatus: Int? = nil,
        code: Code? = nil, message: String, curlCode: Int? = nil
    ) {
        self.kind = kind
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.curlCode = curlCode
    }

    /// Whether trying again may help: 5xx (but 501), 408, 429, SlowDown, RequestTimeout,
    /// InternalError, and the transient libcurl errors (see `CurlErrorClass`).
    public var isTransient: Bool {
        switch kind {
        case .server:
            if let code, [.slowDown, .internalError, .serviceUnavailable, .requestTimeout].contains(code) {
                return true
            }
            guard let status = httpStatus else { return false }
            return status == 408 || status == 429 || (status >= 500 && status != 501)
        case .transport:
            return curlCode.map(CurlErrorClass.isTransient) ?? false
        default:
            return false
        }
    }

    /// True when the endpoint could not be reached at all (refused, unresolvable, connect timeout).
    public var isUnreachable: Bool {
        kind == .transport && (curlCode.map(CurlErrorClass.isUnreachable) ?? false)
    }
}

extension S3Error: CustomStringConvertible {
    public var description: String {
        let object = key.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(key)"
        var text = "S3 \(operation) \(object) failed: "
        switch kind {
        case .server:
            var parts: [String] = []
            if let httpStatus { parts.append(String(httpStatus)) }
            if let code { parts.append(code.rawValue) }
            text += parts.joined(separator: " ") + (message.isEmpty ? "" : ": " + message)
        case .transport:
            text += message
        default:
            text += message
        }
        if let hint { text += " — " + hint }
        if attempts > 1 { text += " (gave up after \(attempts) attempts)" }
        if let note { text += "; " + note }
        return text
    }

    /// Friendly advice for the failures a sysadmin can fix.
    public var hint: String? {
        if kind == .transport, let curlCode {
            if CurlErrorClass.isUnreachable(curlCode) {
                return
                    "cannot reach the S3 endpoint \(endpoint.isEmpty ? "(AWS)" : endpoint); check the endpoint "
                    + "URL, DNS, firewall, proxy settings (https_proxy, no_proxy) and that the server is running"
            }
            if CurlErrorClass.isTLSVerification(curlCode) {
                return
                    "the server's TLS certificate could not be verified; check the endpoint's certificate, or "
                    + "trust its CA with ca_bundle in the [s3] table of dbbackup.toml (a PEM file)"
            }
            return nil
        }
        if let bucketRegion {
            return "bucket '\(bucket)' is in region \(bucketRegion): give --region \(bucketRegion) "
                + "(region = \"\(bucketRegion)\" in the registration)"
                + (endpoint.isEmpty ? "" : ", with that region's endpoint (or an empty endpoint for AWS)")
        }
        let asWho = principal ?? "this access key"
        switch code {
        case .signatureDoesNotMatch?:
            if principal != nil {
                return
                    """
                    the store rejected the signature of the instance role's temporary credentials; check the \
                    region and the clock (NTP)
                    """
            }
            return "the secret key does not match the access key; check the configured secret key"
        case .invalidAccessKeyId?:
            if principal != nil {
                return
                    """
                    the store does not know the instance role's temporary access key: is it AWS S3 (or a store \
                    that accepts STS credentials)?
                    """
            }
            return "the server does not know this access key; check the configured access key"
        case .expiredToken?, .invalidToken?, .tokenRefreshRequired?:
            return
                """
                the temporary credentials' session token was refused even after fetching new ones; check the \
                clock (NTP)
                """
        case .noSuchBucket?:
            return "bucket '\(bucket)' does not exist on this endpoint (or is in another region); "
                + "dbbackup does not create buckets — create it first"
        case .accessDenied? where message.lowercased().contains("kms"):
            return "\(asWho) may not use the KMS key for server-side encryption: allow kms:GenerateDataKey (uploads) "
                + """
                and kms:Decrypt (restores and multipart uploads) on it in the key policy or \
                \(principal == nil ? "the user's" : "the role's") policy
                """
        case .accessDenied?:
            let permission = requiredPermission.map { "needs \($0)" } ?? "is not permitted"
            // ListBucket is granted on the bucket itself, object permissions on its keys.
            let resource = requiredPermission == "s3:ListBucket" ? "arn:aws:s3:::\(bucket)" : "arn:aws:s3:::\(bucket)/*"
            let policy = principal == nil ? "the user or bucket policy" : "the role's policy or the bucket policy"
            return "\(asWho) \(permission) on \(resource) — grant it in \(policy) (a bucket policy may also demand "
                + "server-side encryption headers: set server_side_encryption)"
        case .invalidObjectState?:
            return
                "the object is in an archive storage class (GLACIER or DEEP_ARCHIVE) and must be restored before "
                + "it can be read: aws s3api restore-object --bucket \(bucket) --key '\(key)' --restore-request Days=2 "
                + "(takes minutes to 12 hours for GLACIER, up to 48 hours for DEEP_ARCHIVE), then try again"
        case .invalidStorageClass?:
            return "this store does not offer that storage class; choose one it lists, or leave storage_class out"
        case .kmsNotFound?:
            return "the KMS key named in kms_key_id does not exist in the bucket's region; check the id, ARN or alias"
        case .requestTimeTooSkewed?:
            return "this machine's clock differs too much from the server's; check NTP"
        case .badDigest?, .invalidDigest?, .contentSHA256Mismatch?:
            return
                """
                the server received different bytes than were sent (damaged in transit or the file changed during \
                upload)
                """
        case .entityTooLarge?:
            return "the object is larger than a single PUT allows; lower the multipart threshold"
        default:
            return nil
        }
    }
}

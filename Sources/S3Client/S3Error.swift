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
    /// The permission this operation needs (for AccessDenied hints).
    public var requiredPermission: String?
    /// Extra context, e.g. that an abandoned multipart upload could not be aborted.
    public var note: String?

    public init(kind: Kind, operation: String, bucket: String, key: String, httpStatus: Int? = nil,
                code: Code? = nil, message: String, curlCode: Int? = nil) {
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
            if let code, [.slowDown, .internalError, .serviceUnavailable, .requestTimeout].contains(code) { return true }
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
                return "cannot reach the S3 endpoint \(endpoint.isEmpty ? "(AWS)" : endpoint); check the endpoint URL, DNS, "
                    + "firewall and that the server is running"
            }
            if CurlErrorClass.isTLSVerification(curlCode) {
                return "the server's TLS certificate could not be verified; check the endpoint's certificate or the CA bundle"
            }
            return nil
        }
        switch code {
        case .signatureDoesNotMatch?:
            return "the secret key does not match the access key; check the configured secret key"
        case .invalidAccessKeyId?:
            return "the server does not know this access key; check the configured access key"
        case .noSuchBucket?:
            return "bucket '\(bucket)' does not exist on this endpoint (or is in another region); "
                + "dbbackup does not create buckets — create it first"
        case .accessDenied?:
            let permission = requiredPermission.map { "needs \($0)" } ?? "is not permitted"
            // ListBucket is granted on the bucket itself, object permissions on its keys.
            let resource = requiredPermission == "s3:ListBucket" ? "arn:aws:s3:::\(bucket)" : "arn:aws:s3:::\(bucket)/*"
            return "this access key \(permission) on \(resource) — grant it in the user or bucket policy"
        case .requestTimeTooSkewed?:
            return "this machine's clock differs too much from the server's; check NTP"
        case .badDigest?, .invalidDigest?, .contentSHA256Mismatch?:
            return "the server received different bytes than were sent (damaged in transit or the file changed during upload)"
        case .entityTooLarge?:
            return "the object is larger than a single PUT allows; lower the multipart threshold"
        default:
            return nil
        }
    }
}

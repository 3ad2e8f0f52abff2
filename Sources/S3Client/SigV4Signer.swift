import Glibc
import Hashing

/// A request as AWS Signature Version 4 sees it. `encodedPath` is the canonical URI (already
/// URI-encoded once, as `S3Endpoint.encodedPath(forKey:)` makes it); `query` is unencoded.
/// `headers` must contain `host`; every header given is signed.
public struct SignableRequest: Sendable {
    public var method: String
    public var encodedPath: String
    public var query: [QueryItem]
    public var headers: [(name: String, value: String)]
    /// Lowercase hex SHA-256 of the body (the empty-body hash for requests without one).
    public var payloadSHA256: String

    public init(
        method: String, encodedPath: String, query: [QueryItem] = [],
        headers: [(name: String, value: String)], payloadSHA256: String
    ) {
        self.method = method
        self.encodedPath = encodedPath
        self.query = query
        self.headers = headers
        self.payloadSHA256 = payloadSHA256
    }

    /// SHA-256 of the empty body.
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}

/// AWS Signature Version 4 for S3 (header form). Pure: the same request, keys and date always
/// give the same signature.
public struct SigV4Signer: Sendable {
    public let accessKey: String
    private let secretKey: String
    public let region: String
    public let service: String

    public init(accessKey: String, secretKey: String, region: String, service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region.isEmpty ? "us-east-1" : region
        self.service = service
    }

    /// The request's headers plus `x-amz-date`, `x-amz-content-sha256` and `Authorization`,
    /// signed at `date` (seconds since 1970, UTC).
    public func sign(_ request: SignableRequest, at date: Int) -> [(name: String, value: String)] {
        let stamp = AmzDate(secondsSince1970: date)
        var headers = request.headers.filter {
            let name = $0.name.lowercased()
            return name != "x-amz-date" && name != "x-amz-content-sha256" && name != "authorization"
        }
        headers.append((name: "x-amz-date", value: stamp.timestamp))
        headers.append((name: "x-amz-content-sha256", value: request.payloadSHA256))
        var signed = request
        signed.headers = headers
        headers.append((name: "Authorization", value: authorization(signed, stamp: stamp)))
        return headers
    }

    func authorization(_ request: SignableRequest, stamp: AmzDate) -> String {
        let canonical = CanonicalRequest(request)
        let scope = "\(stamp.day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", stamp.timestamp, scope,
            Digest.hash(.sha256, Array(canonical.text.utf8)).hexString,
        ].joined(separator: "\n")
        let signature = hmacSHA256(key: signingKey(day: stamp.day), message: Array(stringToSign.utf8)).hexString
        return
            """
            AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(canonical.signedHeaders), \
            Signature=\(signature)
            """
    }

    private func signingKey(day: String) -> [UInt8] {
        let dateKey = hmacSHA256(key: Array("AWS4\(secretKey)".utf8), message: Array(day.utf8))
        let regionKey = hmacSHA256(key: dateKey, message: Array(region.utf8))
        let serviceKey = hmacSHA256(key: regionKey, message: Array(service.utf8))
        return hmacSHA256(key: serviceKey, message: Array("aws4_request".utf8))
    }
}

/// The canonical request text and signed-header list of SigV4.
struct CanonicalRequest {
    let text: String
    let signedHeaders: String

    init(_ request: SignableRequest) {
        // Lowercase names; values trimmed with inner whitespace runs collapsed; repeated
        // headers joined with ","; sorted by name.
        var merged: [String: [String]] = [:]
        for header in request.headers {
            let name = header.name.lowercased().trimmingASCIIWhitespace
            merged[name, default: []].append(Self.collapsingWhitespace(header.value))
        }
        let names = merged.keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        signedHeaders = names.joined(separator: ";")
        text = [
            request.method.uppercased(),
            request.encodedPath.isEmpty ? "/" : request.encodedPath,
            request.query.canonicalQueryString,
            canonicalHeaders,
            signedHeaders,
            request.payloadSHA256,
        ].joined(separator: "\n")
    }

    static func collapsingWhitespace(_ value: String) -> String {
        let whitespace = " \t\n\r\u{0B}\u{0C}".unicodeScalars
        return value.unicodeScalars.split(whereSeparator: { whitespace.contains($0) })
            .map { String(String.UnicodeScalarView($0)) }
            .joined(separator: " ")
    }
}

/// `20130524T000000Z` and `20130524`, in UTC.
struct AmzDate {
    let timestamp: String
    let day: String

    init(secondsSince1970: Int) {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        day = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2)
        timestamp = day + "T" + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }
}

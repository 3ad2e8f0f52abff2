
/// A parsed endpoint URL and the rules for addressing a bucket and key on it.
public struct S3Endpoint: Sendable, Equatable {
    public let scheme: String
    /// Lowercased host name or IP address (IPv6 in brackets).
    public let host: String
    /// The port given in the URL, if any.
    public let port: Int?
    /// A path prefix of the endpoint URL without trailing slash (usually empty).
    public let basePath: String
    public let bucket: String
    public let usesPathStyle: Bool

    /// Parses `configuration.endpoint` (empty = AWS for the region).
    public init(_ configuration: S3Configuration) throws(S3Error) {
        let invalid = { (why: String) -> S3Error in
            S3Error(kind: .invalidConfiguration, operation: "configure", bucket: configuration.bucket, key: "",
                    message: "invalid S3 endpoint '\(configuration.endpoint)': \(why)")
        }
        guard !configuration.bucket.isEmpty else {
            throw S3Error(kind: .invalidConfiguration, operation: "configure", bucket: "", key: "",
                          message: "the bucket name is empty")
        }
        var text = configuration.endpoint.trimmingASCIIWhitespace
        if text.isEmpty { text = "https://s3.\(configuration.effectiveRegion).amazonaws.com" }
        var scheme = "https"
        if let range = text.firstRange(of: "://") {
            scheme = text[..<range.lowerBound].lowercased()
            text = String(text[range.upperBound...])
        }
        guard scheme == "http" || scheme == "https" else { throw invalid("only http:// and https:// are supported") }
        let pathStart = text.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? text.endIndex
        let authority = String(text[..<pathStart])
        var path = String(text[pathStart...])
        guard !path.contains("?"), !path.contains("#") else { throw invalid("it must not have a query or fragment") }
        guard !authority.contains("@") else { throw invalid("credentials do not belong in the URL") }
        while path.hasSuffix("/") { path.removeLast() }

        var hostPart = authority
        var portText: Substring?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            hostPart = String(authority[...close])
            let rest = authority[authority.index(after: close)...]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { throw invalid("bad host") }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { throw invalid("bad port '\(portText)'") }
            port = value
        }
        guard !hostPart.isEmpty else { throw invalid("no host") }
        self.scheme = scheme
        self.host = hostPart.lowercased()
        self.port = port
        self.basePath = path
        self.bucket = configuration.bucket
        self.usesPathStyle = configuration.forcePathStyle
            || !Self.isVirtualHostable(bucket: configuration.bucket, scheme: scheme)
            || Self.isIPAddress(hostPart)
    }

    /// The Host header value (port only when it is not the scheme's default), as signed.
    public var hostHeader: String {
        let name = usesPathStyle ? host : "\(bucket).\(host)"
        guard let port, port != (scheme == "https" ? 443 : 80) else { return name }
        return "\(name):\(port)"
    }

    /// The URI-encoded path of an object (the canonical URI).
    public func encodedPath(forKey key: String) -> String {
        let encodedKey = URIEncoding.encode(key, keepingSlash: true)
        if usesPathStyle {
            return basePath + "/" + URIEncoding.encode(bucket, keepingSlash: false) + (key.isEmpty ? "" : "/" + encodedKey)
        }
        return basePath + "/" + encodedKey
    }

    /// The full URL sent to libcurl; its path and query are exactly the signed ones.
    public func url(forKey key: String, query: [QueryItem]) -> String {
        let queryString = query.canonicalQueryString
        return "\(scheme)://\(hostHeader)\(encodedPath(forKey: key))" + (queryString.isEmpty ? "" : "?" + queryString)
    }

    /// `s3://bucket/key`, for messages.
    func displayName(forKey key: String) -> String { "s3://\(bucket)/\(key)" }

    /// Bucket names that can be a DNS label sequence; with https also no dots (the wildcard
    /// certificate covers one label only).
    static func isVirtualHostable(bucket: String, scheme: String) -> Bool {
        guard (3...63).contains(bucket.utf8.count), !(scheme == "https" && bucket.contains(".")) else { return false }
        let labels = bucket.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.utf8.first, let last = label.utf8.last else { return false }
            let allowed = label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
            return allowed && first != 0x2d && last != 0x2d
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        if host.hasPrefix("[") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

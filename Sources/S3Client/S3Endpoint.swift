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
            S3Error(
                kind: .invalidConfiguration, operation: "configure", bucket: configuration.bucket, key: "",
                message: "invalid S3 endpoint '\(configuration.endpoint)': \(why)")
        }
        guard !configuration.bucket.isEmpty else {
            throw S3Error(
                kind: .invalidConfiguration, operation: "configure", bucket: "", key: "",
                message: "the bucket name is empty")
        }
        if let problem = S3BucketName.problem(configuration.bucket) {
            throw S3Error(
                kind: .invalidConfiguration, operation: "configure", bucket: configuration.bucket, key: "",
                message: "bucket name '\(configuration.bucket)' \(problem)")
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
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw invalid("bad port '\(portText)'")
            }
            port = value
        }
        guard !hostPart.isEmpty else { throw invalid("no host") }
        self.scheme = scheme
        self.host = hostPart.lowercased()
        self.port = port
        self.basePath = path
        self.bucket = configuration.bucket
        self.usesPathStyle =
            configuration.forcePathStyle
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
            return basePath + "/" + URIEncoding.encode(bucket, keepingSlash: false)
                + (key.isEmpty ? "" : "/" + encodedKey)
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
    /// certificate covers one label only). Legacy names (uppercase, `_`) never are, so they
    /// always go path-style.
    static func isVirtualHostable(bucket: String, scheme: String) -> Bool {
        guard (3...63).contains(bucket.utf8.count), !(scheme == "https" && bucket.contains(".")) else { return false }
        let labels = bucket.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.utf8.first, let last = label.utf8.last else { return false }
            let allowed = label.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d
            }
            return allowed && first != 0x2d && last != 0x2d
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        if host.hasPrefix("[") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

/// The rules for bucket names. Today's S3 names are 3-63 lowercase letters, digits, `.` and
/// `-`, starting and ending with a letter or digit. Buckets created in us-east-1 before
/// March 2018 may have legacy names: up to 255 characters, also uppercase letters and `_`.
/// Such a name cannot be a host name, so it works only path-style (`https://s3.amazonaws.com/My_Bucket/key`);
/// self-hosted stores (Ceph with relaxed names, MinIO) accept the same set.
public enum S3BucketName {
    /// Why no store anywhere accepts `name`, or nil.
    public static func problem(_ name: String) -> String? {
        guard (3...255).contains(name.utf8.count) else {
            return "must be 3 to 255 characters long (3 to 63 for buckets created since 2018)"
        }
        guard
            name.utf8.allSatisfy({
                isLowercaseOrDigit($0) || ($0 >= 0x41 && $0 <= 0x5a) || $0 == 0x2e || $0 == 0x2d || $0 == 0x5f
            })
        else {
            return
                """
                may contain only letters, digits, '.', '-' and '_' (today's names: lowercase letters, digits, '.' \
                and '-')
                """
        }
        return nil
    }

    /// Whether `name` (valid somewhere) is a legacy name: it breaks today's rules, so it can
    /// only be addressed path-style and only exists in old us-east-1 buckets.
    public static func isLegacy(_ name: String) -> Bool {
        problem(name) == nil && modernProblem(name) != nil
    }

    /// Why `name` breaks today's rules, or nil.
    public static func modernProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.count > 63 { return "is longer than 63 characters" }
        if bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5a }) { return "has uppercase letters" }
        if bytes.contains(0x5f) { return "has '_'" }
        if let first = bytes.first, let last = bytes.last, !isLowercaseOrDigit(first) || !isLowercaseOrDigit(last) {
            return "does not start and end with a letter or digit"
        }
        if name.contains("..") { return "has two dots in a row" }
        return nil
    }

    private static func isLowercaseOrDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39)
    }
}

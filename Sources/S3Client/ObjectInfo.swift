import Glibc

/// What a store says about one object: the answer to `headObject`, and what `getObject`
/// learns from its response headers.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    /// Content-Length: the object's size in bytes.
    public var size: Int64
    /// The ETag without its quotes (the MD5 of a single-PUT, unencrypted or SSE-S3 object;
    /// `MD5-of-part-MD5s-N` for a multipart one; something else for SSE-KMS and some stores).
    public var etag: String?
    /// Last-Modified, in seconds since 1970 (UTC); nil when missing or unreadable.
    public var lastModified: Int64?
    /// `x-amz-storage-class`; S3 leaves the header out for STANDARD, so that is the default.
    public var storageClass: String
    public var contentType: String?
    /// `AES256`, `aws:kms`… as the store reports it (`x-amz-server-side-encryption`), if any.
    public var serverSideEncryption: String?
    /// User metadata (`x-amz-meta-NAME` headers), by NAME without the prefix, lowercase.
    public var metadata: [String: String]
    /// `x-amz-restore` of an archived object (GLACIER, DEEP_ARCHIVE): whether a restore is
    /// under way (`ongoing-request="true"`) or until when the restored copy is readable.
    public var restore: String?

    public init(
        key: String, size: Int64, etag: String? = nil, lastModified: Int64? = nil, storageClass: String = "STANDARD",
        contentType: String? = nil, serverSideEncryption: String? = nil, metadata: [String: String] = [:],
        restore: String? = nil
    ) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.storageClass = storageClass
        self.contentType = contentType
        self.serverSideEncryption = serverSideEncryption
        self.metadata = metadata
        self.restore = restore
    }

    /// Reads the response headers of a HEAD or GET of `key` (names lowercased).
    init(key: String, headers: [String: String], size: Int64? = nil) {
        self.init(
            key: key, size: size ?? headers["content-length"].flatMap { Int64($0) } ?? 0,
            etag: HTTPResponse.unquotedETag(headers["etag"]),
            lastModified: headers["last-modified"].flatMap(HTTPDate.parse),
            storageClass: headers["x-amz-storage-class"].flatMap { $0.isEmpty ? nil : $0 } ?? "STANDARD",
            contentType: headers["content-type"], serverSideEncryption: headers["x-amz-server-side-encryption"],
            metadata: ObjectMetadata.read(headers), restore: headers["x-amz-restore"])
    }
}

/// One object of a listing (`listObjects`).
public struct ObjectSummary: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Seconds since 1970 (UTC); nil when the store's value is unreadable.
    public var lastModified: Int64?
    /// Without quotes.
    public var etag: String?
    /// `STANDARD` when the store does not say.
    public var storageClass: String

    public init(key: String, size: Int64, lastModified: Int64?, etag: String?, storageClass: String) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
        self.storageClass = storageClass
    }
}

/// User metadata as `x-amz-meta-NAME: value` headers. What is accepted is what every store
/// keeps exactly as given and every proxy passes on: names of lowercase ASCII letters, digits
/// and `-` (S3 lowercases names; proxies such as nginx drop names with `_`), values of printable
/// ASCII without leading, trailing or doubled spaces (SigV4 and stores normalise those), and
/// 2 KB in all (S3's limit, counted over names and values). Anything else is refused rather
/// than silently changed: encode such values (hex, base64, percent-encoding) first.
public enum ObjectMetadata {
    static let headerPrefix = "x-amz-meta-"
    public static let maximumTotalBytes = 2048

    /// What is wrong with one entry, or nil.
    public static func problem(name: String, value: String) -> String? {
        if name.isEmpty { return "a metadata name is empty" }
        guard name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }) else {
            return "metadata name '\(name)' may contain only lowercase letters a-z, digits and '-'"
        }
        if value.isEmpty {
            return "metadata '\(name)' has an empty value (some stores drop those); leave it out instead"
        }
        guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) else {
            return
                """
                metadata '\(name)' has a value that is not printable ASCII; encode it first (e.g. \
                percent-encoding or base64)
                """
        }
        if value.hasPrefix(" ") || value.hasSuffix(" ") || value.contains("  ") {
            return
                """
                metadata '\(name)' has a value with leading, trailing or doubled spaces, which stores do not keep \
                as given
                """
        }
        return nil
    }

    /// The signed headers for `metadata`, sorted by name; throws `.invalidArgument` naming
    /// the first entry that is refused.
    static func headers(
        _ metadata: [String: String], operation: String, bucket: String, key: String
    ) throws(S3Error) -> [(name: String, value: String)] {
        let refuse = { (why: String) in
            S3Error(kind: .invalidArgument, operation: operation, bucket: bucket, key: key, message: why)
        }
        var total = 0
        for name in metadata.keys.sorted() {
            let value = metadata[name]!
            if let problem = problem(name: name, value: value) { throw refuse(problem) }
            total += name.utf8.count + value.utf8.count
        }
        guard total <= maximumTotalBytes else {
            throw refuse(
                """
                user metadata of \(total) bytes is larger than S3's limit of \(maximumTotalBytes) bytes (names \
                and values together)
                """
            )
        }
        return metadata.keys.sorted().map { (name: headerPrefix + $0, value: metadata[$0]!) }
    }

    /// The `x-amz-meta-*` response headers, by name without the prefix.
    static func read(_ headers: [String: String]) -> [String: String] {
        var metadata: [String: String] = [:]
        for (name, value) in headers where name.hasPrefix(headerPrefix) && name.utf8.count > headerPrefix.utf8.count {
            metadata[String(name.dropFirst(headerPrefix.count))] = value
        }
        return metadata
    }
}

/// The two date formats S3 uses, read as seconds since 1970 (UTC).
enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 IMF-fixdate; HTTP's Last-Modified).
    static func parse(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int32(parts[1]),
            let month = months.firstIndex(of: String(parts[2])), let year = Int32(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let hour = Int32(clock[0]), let minute = Int32(clock[1]), let second = Int32(clock[2])
        else { return nil }
        return seconds(year: year, month: Int32(month) + 1, day: day, hour: hour, minute: minute, second: second)
    }

    /// `2009-10-12T17:50:30.000Z` (ISO 8601 in UTC; ListObjectsV2's LastModified, IMDS's Expiration).
    static func parseISO8601(_ text: String) -> Int64? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 20, utf8.last == UInt8(ascii: "Z"), utf8[4] == UInt8(ascii: "-"),
            utf8[7] == UInt8(ascii: "-"),
            utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: "t"), utf8[13] == UInt8(ascii: ":"),
            utf8[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ range: Range<Int>) -> Int32? { Int32(String(decoding: utf8[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        // Fractions of a second (".000") are allowed and ignored.
        guard
            utf8.count == 20
                || (utf8[19] == UInt8(ascii: ".")
                    && utf8[20..<(utf8.count - 1)].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }))
        else { return nil }
        return seconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    private static func seconds(
        year: Int32, month: Int32, day: Int32, hour: Int32, minute: Int32, second: Int32
    ) -> Int64? {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute),
            (0...60).contains(second)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int64(timegm(&parts))
    }
}

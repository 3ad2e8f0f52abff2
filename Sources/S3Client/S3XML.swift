/// Just enough XML for S3's small response documents (`<Error>`, `<InitiateMultipartUploadResult>`,
/// `<CompleteMultipartUploadResult>`): the text of the first element with a given name.
enum S3XML {
    static func firstText(of element: String, in document: some StringProtocol) -> String? {
        guard let open = document.firstRange(of: "<\(element)>"),
            let close = document[open.upperBound...].firstRange(of: "</\(element)>")
        else { return nil }
        return decodeEntities(String(document[open.upperBound..<close.lowerBound]))
    }

    /// The inner text of every `<element>…</element>`, in order (not nested in one another,
    /// as ListObjectsV2's `<Contents>` are not).
    static func elements(_ element: String, in document: String) -> [Substring] {
        var found: [Substring] = []
        var rest = Substring(document)
        while let open = rest.firstRange(of: "<\(element)>"),
            let close = rest[open.upperBound...].firstRange(of: "</\(element)>")
        {
            found.append(rest[open.upperBound..<close.lowerBound])
            rest = rest[close.upperBound...]
        }
        return found
    }

    /// Whether the document's root element is `<Error>` (S3 may answer 200 with an error body
    /// to CompleteMultipartUpload).
    static func isErrorDocument(_ document: String) -> Bool {
        var rest = Substring(document)
        while let start = rest.firstIndex(of: "<") {
            let after = rest[rest.index(after: start)...]
            if after.hasPrefix("?") || after.hasPrefix("!") {
                guard let end = after.firstIndex(of: ">") else { return false }
                rest = after[after.index(after: end)...]
                continue
            }
            return after.hasPrefix("Error>") || after.hasPrefix("Error ")
        }
        return false
    }

    /// XML's five predefined entities: the character and its name, for both directions.
    static let entities: [(character: Character, name: String)] = [
        ("&", "amp"), ("<", "lt"), (">", "gt"), ("\"", "quot"), ("'", "apos"),
    ]

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            if let entity = entities.first(where: { $0.character == character }) {
                out += "&\(entity.name);"
            } else {
                out.append(character)
            }
        }
        return out
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semi) <= 10 else {
                out += rest[amp...]
                return out
            }
            let entity = rest[rest.index(after: amp)..<semi]
            if let named = entities.first(where: { $0.name == entity }) {
                out.append(named.character)
            } else {
                let number =
                    entity.hasPrefix("#x")
                    ? UInt32(entity.dropFirst(2), radix: 16)
                    : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += "&\(entity);"
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}

/// One page of a ListObjectsV2 answer.
struct ListPage {
    var objects: [ObjectSummary] = []
    var isTruncated = false
    var nextToken: String?

    init(_ document: String) {
        // With encoding-type=url the store percent-encodes keys and says so; one that ignores
        // the request sends them plain (and then without <EncodingType>).
        let encoded = S3XML.firstText(of: "EncodingType", in: document)?.lowercased() == "url"
        for entry in S3XML.elements("Contents", in: document) {
            guard let rawKey = S3XML.firstText(of: "Key", in: entry) else { continue }
            let key = encoded ? URIEncoding.decodeForm(rawKey) : rawKey
            objects.append(
                ObjectSummary(
                    key: key,
                    size: S3XML.firstText(of: "Size", in: entry).flatMap { Int64($0) } ?? 0,
                    lastModified: S3XML.firstText(of: "LastModified", in: entry).flatMap(HTTPDate.parseISO8601),
                    etag: HTTPResponse.unquotedETag(S3XML.firstText(of: "ETag", in: entry)),
                    storageClass: S3XML.firstText(of: "StorageClass", in: entry).flatMap { $0.isEmpty ? nil : $0 }
                        ?? "STANDARD"))
        }
        isTruncated = S3XML.firstText(of: "IsTruncated", in: document) == "true"
        nextToken = S3XML.firstText(of: "NextContinuationToken", in: document).flatMap { $0.isEmpty ? nil : $0 }
    }
}

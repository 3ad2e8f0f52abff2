/// Just enough XML for S3's small response documents (`<Error>`, `<InitiateMultipartUploadResult>`,
/// `<CompleteMultipartUploadResult>`): the text of the first element with a given name.
enum S3XML {
    static func firstText(of element: String, in document: String) -> String? {
        guard let open = document.firstRange(of: "<\(element)>"),
              let close = document[open.upperBound...].firstRange(of: "</\(element)>")
        else { return nil }
        return decodeEntities(String(document[open.upperBound..<close.lowerBound]))
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

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
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
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16)
                    : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) { out.unicodeScalars.append(scalar) } else { out += "&\(entity);" }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}

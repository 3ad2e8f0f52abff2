import Hashing

/// Constants of the age v1 format (https://age-encryption.org/v1).
enum AgeFormat {
    static let versionLine = Array("age-encryption.org/v1".utf8)
    static let magic = Array("age-encryption.org/".utf8)
    static let armorLine = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
    static let chunkSize = 64 * 1024
    static let tagSize = ChaCha20Poly1305.tagSize
    static let payloadNonceSize = 16
    static let fileKeySize = 16
    static let x25519Label = Array("age-encryption.org/v1/X25519".utf8)
    /// A generous bound on the header: thousands of recipients fit; a stream of garbage does not
    /// make the reader grow without end.
    static let maximumHeaderSize = 1 << 20
}

/// One recipient stanza: its arguments (the first is its type) and its body.
struct Stanza {
    var arguments: [String]
    var body: [UInt8]

    var type: String { arguments[0] }

    /// The stanza as it appears in a header: the argument line, then the body in base64
    /// lines of 64 columns, the last one shorter (empty if need be).
    var encoded: [UInt8] {
        var out = Array(("-> " + arguments.joined(separator: " ") + "\n").utf8)
        let text = Array(RawBase64.encode(body).utf8)
        var index = 0
        repeat {
            let end = min(index + 64, text.count)
            out += text[index..<end] + [UInt8(ascii: "\n")]
            if end - index < 64 { break }
            index = end
        } while true
        return out
    }
}

/// Reads an age header from bytes arriving in pieces, one line at a time, checking the
/// grammar of age v1 exactly (a header has one encoding only).
struct HeaderReader {
    private enum State {
        case version
        case stanzaOrMAC
        case body(arguments: [String], text: [UInt8])
        case done
    }

    private var state = State.version
    /// The header so far; once complete, up to and including the MAC line.
    private(set) var bytes: [UInt8] = []
    private(set) var stanzas: [Stanza] = []
    /// The MAC and the bytes it covers (the header up to and including `---`).
    private(set) var mac: [UInt8] = []
    private(set) var macInputCount = 0

    var isComplete: Bool { if case .done = state { true } else { false } }

    /// Takes header bytes from the start of `input`; returns how many it took (all of them,
    /// unless the header ended inside `input`).
    mutating func feed(_ input: UnsafeRawBufferPointer) throws(AgeError) -> Int {
        var taken = 0
        while taken < input.count, !isComplete {
            let rest = UnsafeRawBufferPointer(rebasing: input[taken...])
            let newline = rest.firstIndex(of: UInt8(ascii: "\n"))
            let piece = newline.map { rest[...$0] } ?? rest[...]
            bytes += piece
            taken += piece.count
            guard bytes.count <= AgeFormat.maximumHeaderSize else {
                throw AgeError(
                    .malformedHeader,
                    """
                    has no end to its age header within the first \(AgeFormat.maximumHeaderSize) bytes: not an \
                    age file, or damaged
                    """
                )
            }
            if newline == nil {
                try checkStart()
            } else {
                try line(bytes[lineStart..<(bytes.count - 1)])
                lineStart = bytes.count
            }
        }
        return taken
    }

    private var lineStart = 0

    /// Recognises a file that is not age from its first bytes, without waiting for a line end.
    private func checkStart() throws(AgeError) {
        guard case .version = state else { return }
        let count = min(bytes.count, AgeFormat.magic.count)
        if bytes[0..<count].elementsEqual(AgeFormat.magic[0..<count]) { return }
        if bytes.count >= AgeFormat.armorLine.count || !bytes.elementsEqual(AgeFormat.armorLine[0..<bytes.count]) {
            try refuseStart()
        }
    }

    private func refuseStart() throws(AgeError) {
        if bytes.starts(with: AgeFormat.armorLine) {
            throw AgeError(
                .armored,
                """
                is ASCII-armored age (age -a); dbbackup reads binary age files: convert it with `age -d` and \
                re-encrypt without -a
                """
            )
        }
        if bytes.starts(with: AgeFormat.magic) {
            let version = String(
                decoding: bytes[AgeFormat.magic.count...].prefix { $0 != UInt8(ascii: "\n") }.prefix(40), as: UTF8.self)
            throw AgeError(.unsupportedVersion, "is age format version \"\(version)\"; dbbackup reads age v1 only")
        }
        throw AgeError(.notAge, "is not an age-encrypted file (it does not start with \"age-encryption.org/v1\")")
    }

    /// The input ended. Throws unless the header was complete.
    func finish() throws(AgeError) {
        guard !isComplete else { return }
        if bytes.isEmpty { throw AgeError(.malformedHeader, "is empty: not an age-encrypted file") }
        if case .version = state { try refuseStart() }
        throw AgeError(
            .malformedHeader, "ends inside its age header after \(bytes.count) bytes: the file was cut short")
    }

    private mutating func line(_ line: ArraySlice<UInt8>) throws(AgeError) {
        switch state {
        case .version:
            guard line.elementsEqual(AgeFormat.versionLine) else {
                try refuseStart()
                return
            }
            state = .stanzaOrMAC
        case .stanzaOrMAC:
            if line.starts(with: Array("-> ".utf8)) || line.elementsEqual(Array("->".utf8)) {
                let arguments = line.dropFirst(3).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
                guard line.count > 3 else { throw malformed("has a recipient stanza without arguments") }
                guard arguments.allSatisfy({ !$0.isEmpty }) else {
                    throw malformed("has an empty argument in a recipient stanza")
                }
                guard arguments.allSatisfy({ $0.allSatisfy { (0x21...0x7e).contains($0) } }) else {
                    throw malformed("has a character that is not printable ASCII in a recipient stanza")
                }
                state = .body(arguments: arguments.map { String(decoding: $0, as: UTF8.self) }, text: [])
            } else if line.starts(with: Array("---".utf8)) {
                let encoded = line.dropFirst(4)
                guard line.count == 4 + 43, line[line.startIndex + 3] == UInt8(ascii: " "),
                    let mac = RawBase64.decode(encoded), mac.count == 32
                else {
                    throw malformed("has a malformed MAC line (expected \"--- \" and 43 base64 characters)")
                }
                self.mac = mac
                macInputCount = line.startIndex + 3
                state = .done
            } else {
                throw malformed("has a line that is neither a recipient stanza (\"-> …\") nor the MAC (\"--- …\")")
            }
        case .body(let arguments, var text):
            guard line.count <= 64 else { throw malformed("has a stanza body line longer than 64 columns") }
            guard line.allSatisfy(RawBase64.isAlphabet) else {
                throw malformed("has a stanza body line that is not unpadded base64")
            }
            text += line
            if line.count == 64 {
                state = .body(arguments: arguments, text: text)
            } else {
                guard let body = RawBase64.decode(text) else {
                    throw malformed("has a stanza body that is not canonical base64")
                }
                stanzas.append(Stanza(arguments: arguments, body: body))
                state = .stanzaOrMAC
            }
        case .done:
            break
        }
    }

    private func malformed(_ what: String) -> AgeError {
        AgeError(.malformedHeader, "is not a valid age file: its header \(what)")
    }
}

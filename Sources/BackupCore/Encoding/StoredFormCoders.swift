import Age
import Zstd

/// Where encoded or decoded bytes go, in order; the bytes are only valid during the call.
public typealias ByteSink = (UnsafeRawBufferPointer) throws -> Void

/// Turns the plain database into its stored form as it streams through: compress, then
/// encrypt. Memory is fixed (zstd's workers and a chunk of age), whatever the size.
///
/// Errors are `EncodingError`, or whatever `sink` throws.
public final class StoredFormEncoder {
    private let compressor: ZstdCompressor?
    private let encryptor: AgeEncryptor?
    private let name: String

    /// - Parameters:
    ///   - plainSize: the exact size of the plain input, if known: zstd records it in the
    ///     frame (as `zstd FILE` does) and a different amount read is `inputChanged`.
    ///   - name: the plain file, for messages.
    public init(
        form: StoredForm, workers: Int = StoredForm.defaultWorkers, plainSize: Int64? = nil, name: String
    ) throws(EncodingError) {
        self.name = name
        do {
            compressor = try form.compressionLevel.map { level throws(ZstdError) in
                try ZstdCompressor(level: level, workers: workers, pledgedSize: plainSize)
            }
        } catch {
            throw EncodingError.zstd(error, file: name, insideAge: false)
        }
        do {
            encryptor = form.recipients.isEmpty ? nil : try AgeEncryptor(recipients: form.recipients)
        } catch {
            throw EncodingError.age(error, file: name)
        }
    }

    /// zstd worker threads in use (0: not compressed, or on this thread).
    public var workers: Int { compressor?.workers ?? 0 }

    public func write(_ plain: UnsafeRawBufferPointer, to sink: ByteSink) throws {
        try translating {
            switch (compressor, encryptor) {
            case (let compressor?, let encryptor?):
                try compressor.compress(plain) { try encryptor.encrypt($0, into: sink) }
            case (let compressor?, nil): try compressor.compress(plain, into: sink)
            case (nil, let encryptor?): try encryptor.encrypt(plain, into: sink)
            case (nil, nil): try sink(plain)
            }
        }
    }

    public func finish(to sink: ByteSink) throws {
        try translating {
            switch (compressor, encryptor) {
            case (let compressor?, let encryptor?):
                try compressor.finish { try encryptor.encrypt($0, into: sink) }
                try encryptor.finish(into: sink)
            case (let compressor?, nil): try compressor.finish(into: sink)
            case (nil, let encryptor?): try encryptor.finish(into: sink)
            case (nil, nil): break
            }
        }
    }

    private func translating(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ZstdError {
            throw EncodingError.zstd(error, file: name, insideAge: false)
        } catch let error as AgeError {
            throw EncodingError.age(error, file: name)
        }
    }
}

/// Turns a stored backup back into the plain database as it streams through: decrypt, then
/// decompress. The layers are told by the content's first bytes (age, zstd, or neither: the
/// plain database); a name that claims `.zst` or `.age` must match them. Nothing is released
/// before it is authenticated (age) and every zstd frame's checksum is checked; a checksum
/// covers a whole frame, so a damaged frame's bytes may have reached the sink when the error
/// comes: write to a staging file, never to the final name.
///
/// Errors are `EncodingError`, or whatever `sink` throws.
public final class StoredFormDecoder {
    private enum Inner {
        case detecting([UInt8])
        case zstd(ZstdDecompressor)
        case plain
    }

    private enum Outer {
        case detecting([UInt8])
        case age(AgeDecryptor, Inner)
        case zstd(ZstdDecompressor)
        case plain
    }

    private var outer = Outer.detecting([])
    private let identities: [AgeIdentity]
    private let claimed: [StoredLayer]?
    private let name: String

    /// - Parameters:
    ///   - identities: age identities to try, in order (none: an encrypted file is refused
    ///     with `identityNeeded`).
    ///   - claimedLayers: the layers the file's name claims (`StoredForm.layers(claimedBy:)`),
    ///     checked against the content; nil or empty: whatever the content says.
    ///   - name: the stored file, for messages.
    public init(identities: [AgeIdentity], claimedLayers: [StoredLayer]? = nil, name: String) {
        self.identities = identities
        self.claimed = claimedLayers.flatMap { $0.isEmpty ? nil : $0 }
        self.name = name
    }

    /// The layers found so far, innermost first (complete after `finish`).
    public var layers: [StoredLayer] {
        switch outer {
        case .detecting, .plain: []
        case .zstd: [.zstd]
        case .age(_, .zstd): [.zstd, .age]
        case .age: [.age]
        }
    }

    public func write(_ stored: UnsafeRawBufferPointer, to sink: ByteSink) throws {
        try translating { try feed(stored, end: false, sink) }
    }

    /// The input ended: refuses a stored file cut short. Returns its layers, innermost first.
    @discardableResult
    public func finish(to sink: ByteSink) throws -> [StoredLayer] {
        try translating { try feed(UnsafeRawBufferPointer(start: nil, count: 0), end: true, sink) }
        // Claims the checks on the way cannot see (a name ending .age.zst: dbbackup never
        // looks for age inside zstd).
        if let claimed, claimed != layers {
            throw EncodingError(
                .mismatchedName,
                """
                \(name) is named \(claimed.map(\.suffix).joined()) but holds \
                \(layers.isEmpty
                        ? "neither age nor zstd" : layers.reversed().map(\.rawValue).joined(separator: " around ")): \
                it was renamed or replaced; check where it came from
                """
            )
        }
        return layers
    }

    private func feed(_ input: UnsafeRawBufferPointer, end: Bool, _ sink: ByteSink) throws {
        switch outer {
        case .detecting(var head):
            head += input
            switch Magic.classify(head, end: end) {
            case .undecided:
                outer = .detecting(head)
                return
            case .age:
                outer = .age(AgeDecryptor(identities: identities), .detecting([]))
            case .zstd:
                outer = .zstd(try ZstdDecompressor())
            case .other:
                outer = .plain
            }
            try checkClaim(outer: true)
            try head.withUnsafeBytes { try feed($0, end: end, sink) }
        case .age(let decryptor, _):
            if !input.isEmpty { try decryptor.decrypt(input) { try inner($0, end: false, sink) } }
            if end {
                try decryptor.finish { try inner($0, end: false, sink) }
                try inner(UnsafeRawBufferPointer(start: nil, count: 0), end: true, sink)
            }
        case .zstd(let decompressor):
            if !input.isEmpty { try decompressor.decompress(input, into: sink) }
            if end { try decompressor.finish() }
        case .plain:
            if !input.isEmpty { try sink(input) }
        }
    }

    /// Plaintext out of age: zstd inside, or the database itself.
    private func inner(_ input: UnsafeRawBufferPointer, end: Bool, _ sink: ByteSink) throws {
        guard case .age(let decryptor, let state) = outer else { return }
        switch state {
        case .detecting(var head):
            head += input
            switch Magic.classify(head, end: end) {
            case .undecided:
                outer = .age(decryptor, .detecting(head))
                return
            case .zstd:
                outer = .age(decryptor, .zstd(try ZstdDecompressor()))
            case .age, .other:
                outer = .age(decryptor, .plain)
            }
            try checkClaim(outer: false)
            try head.withUnsafeBytes { try inner($0, end: end, sink) }
        case .zstd(let decompressor):
            if !input.isEmpty { try decompressor.decompress(input, into: sink) }
            if end { try decompressor.finish() }
        case .plain:
            if !input.isEmpty { try sink(input) }
        }
    }

    /// The name's claim against the layer just found (the outer one, or the one inside age).
    private func checkClaim(outer isOuter: Bool) throws(EncodingError) {
        guard let claimed else { return }
        let found = layers
        let expected = isOuter ? Array(claimed.suffix(1)) : claimed
        let actual = isOuter ? Array(found.suffix(1)) : found
        guard actual != expected else { return }
        let what =
            isOuter
            ? (found.last.map { "is \($0 == .age ? "age-encrypted" : "zstd-compressed")" }
                ?? "is neither age-encrypted nor zstd-compressed")
            : (found.first == .zstd
                ? "holds zstd-compressed data inside its encryption"
                : "holds no zstd-compressed data inside its encryption")
        throw EncodingError(
            .mismatchedName,
            """
            \(name) is named \(claimed.map(\.suffix).joined()) but \(what): it was renamed or replaced; check \
            where it came from
            """
        )
    }

    private func translating(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ZstdError {
            let insideAge = if case .age = outer { true } else { false }
            throw EncodingError.zstd(error, file: name, insideAge: insideAge)
        } catch let error as AgeError {
            if error.kind == .noMatchingIdentity && identities.isEmpty {
                throw EncodingError(
                    .identityNeeded,
                    """
                    \(name) is encrypted with age; give the identity file that decrypts it (the AGE-SECRET-KEY-1… \
                    file age-keygen wrote) with --identity FILE
                    """
                )
            }
            throw EncodingError.age(error, file: name)
        }
    }
}

// codec-tool: BackupCodec from the command line, for the memory-bound test and the
// benchmarks (Benchmarks/codec.py), which measure it as a process: peak RSS, wall time.
// Not shipped.
//
//   codec-tool encode [--zstd LEVEL] [--workers N] [--no-plain-digest] [--recipient age1…]... PLAIN OUT
//   codec-tool decode [--identity FILE]... STORED OUT
//
// Prints one JSON object with the digests and sizes; errors go to stderr, exit status 1.
import Age
import BackupCore
import FoundationEssentials
import Glibc
import Hashing
import SystemCalls

func fail(_ message: String) -> Never {
    try? FileSystem.writeAll(STDERR_FILENO, Array("codec-tool: \(message)\n".utf8), path: "standard error")
    exit(1)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let verb = arguments.first else { fail("usage: codec-tool encode|decode …") }
arguments.removeFirst()
var level: Int?
var workers = StoredForm.defaultWorkers
var hashPlain = true
var recipients: [AgeRecipient] = []
var identities: [AgeIdentity] = []
var paths: [String] = []
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    func value() -> String {
        guard !arguments.isEmpty else { fail("\(argument) needs a value") }
        return arguments.removeFirst()
    }
    switch argument {
    case "--zstd":
        guard let number = Int(value()) else { fail("--zstd needs a level") }
        level = number
    case "--workers":
        guard let number = Int(value()) else { fail("--workers needs a number") }
        workers = number
    case "--no-plain-digest": hashPlain = false
    case "--recipient":
        do { recipients.append(try AgeRecipient(value())) } catch { fail("--recipient: \(error)") }
    case "--identity":
        let file = value()
        do {
            identities += try AgeKeyFile.identities(in: String(decoding: try FileSystem.readAll(file), as: UTF8.self))
        } catch {
            fail("--identity \(file): \(error)")
        }
    default: paths.append(argument)
    }
}
guard paths.count == 2 else { fail("give the input and the output file") }

func json(_ fields: [(String, String)]) -> String {
    "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

do {
    switch verb {
    case "encode":
        let result = try BackupCodec.encode(
            plainFile: paths[0], as: StoredForm(compressionLevel: level, recipients: recipients),
            toNewFile: paths[1], workers: workers, hashPlain: hashPlain)
        print(
            json([
                ("plain_sha256", result.plainSHA256.map { "\"\($0.hexString)\"" } ?? "null"),
                ("plain_size", "\(result.plainSize)"),
                ("stored_sha256", "\"\(result.stored.sha256.hexString)\""), ("stored_size", "\(result.stored.size)"),
                ("workers", "\(result.workers)"),
            ]))
    case "decode":
        let result = try BackupCodec.decode(storedFile: paths[0], identities: identities, toNewFile: paths[1])
        print(
            json([
                ("plain_sha256", "\"\(result.plain.sha256.hexString)\""), ("plain_size", "\(result.plain.size)"),
                ("stored_sha256", "\"\(result.stored.sha256.hexString)\""), ("stored_size", "\(result.stored.size)"),
                ("layers", "[" + result.layers.map { "\"\($0)\"" }.joined(separator: ", ") + "]"),
            ]))
    default:
        fail("unknown verb \(verb); use encode or decode")
    }
} catch {
    fail("\(error)")
}

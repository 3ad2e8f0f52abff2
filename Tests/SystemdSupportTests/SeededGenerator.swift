import Glibc
import TestKit

/// The seed: SYSTEMD_ESCAPE_SEED from the environment to replay, else a fixed one.
func escapeTestSeed() -> UInt64 {
    if let text = getenv("SYSTEMD_ESCAPE_SEED").map({ String(cString: $0) }), let seed = UInt64(text) { return seed }
    return 20_261_126
}

/// Names mixing everything systemd-escape treats specially.
func generatedNames(count: Int, seed: UInt64) -> [String] {
    var rng = SplitMix64(seed: seed)
    let pieces: [String] = [
        "a", "b", "Z", "0", "9", "_", ":", "/", "-", ".", " ", "\\", "@", "%", "\t", "'", "\"", "~",
        "ü", "é", "日本", "✓", "🙂", "x2d", "\\x2d", "..", "//", "-/", "db", "backup", "nightly",
    ]
    var names: [String] = []
    for index in 0..<count {
        var name = ""
        // A few long ones, to cross the 255-byte unit-name limit in template form.
        let length = index % 37 == 0 ? Int.random(in: 40...90, using: &rng) : Int.random(in: 0...12, using: &rng)
        for _ in 0..<length { name += pieces.randomElement(using: &rng)! }
        if index % 5 == 0 { name = "." + name }
        names.append(name)
    }
    return names
}

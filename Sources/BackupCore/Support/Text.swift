/// Small text helpers from the standard library alone: Foundation's versions (CharacterSet
/// and friends) would link ICU's 30 MB of data into the binary.
extension StringProtocol {
    /// Without leading and trailing white space and line breaks.
    public var trimmed: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// Without leading and trailing line breaks (other white space is kept).
    public var trimmingLineBreaks: String {
        String(drop { $0.isNewline }.reversed().drop { $0.isNewline }.reversed())
    }

    /// Left-aligned in a column of `width` characters.
    public func padded(to width: Int) -> String {
        String(self) + String(repeating: " ", count: Swift.max(0, width - count))
    }
}

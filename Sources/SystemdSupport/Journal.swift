import CSystemd
import Glibc
import SystemCalls

/// Writes structured entries to the journal with sd_journal_sendv(3): one
/// "FIELD=value" iovec per field, so values may hold newlines or any bytes.
public enum JournalWriter {
    /// Sends one entry. Field names must follow `JournalField.isValidName`; MESSAGE
    /// is required (journalctl shows entries by it). Fields are sent sorted by name.
    public static func send(_ fields: [String: String]) throws(SystemdError) {
        guard fields["MESSAGE"] != nil else {
            throw SystemdError(.invalidJournalField, "a journal entry needs a MESSAGE field")
        }
        for name in fields.keys where !JournalField.isValidName(name) {
            throw SystemdError(.invalidJournalField, "invalid journal field name '\(name)'")
        }
        let entries = fields.sorted { $0.key < $1.key }.map { Array("\($0.key)=\($0.value)".utf8) }
        let result = withIOVecs(entries) { iov, count in
            Syscalls.retryingNegativeEINTR { sd_journal_sendv(iov, count) }
        }
        if result < 0 {
            throw SystemdError(.journalSendFailed, errno: -result, "sd_journal_sendv failed")
        }
    }

    /// Convenience for the common shape: message, priority, optional MESSAGE_ID and
    /// extra fields.
    public static func send(
        _ message: String, priority: JournalPriority = .info, messageID: String? = nil,
        fields: [String: String] = [:]
    ) throws(SystemdError) {
        var all = fields
        all["MESSAGE"] = message
        all["PRIORITY"] = String(priority.rawValue)
        if let messageID { all["MESSAGE_ID"] = messageID }
        try send(all)
    }

    /// Lays the byte arrays out in one buffer and passes an iovec per entry.
    private static func withIOVecs(_ entries: [[UInt8]], _ body: (UnsafePointer<iovec>, Int32) -> Int32) -> Int32 {
        let total = entries.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 1)
        defer { storage.deallocate() }
        var iovecs: [iovec] = []
        iovecs.reserveCapacity(entries.count)
        var offset = 0
        for entry in entries {
            let slice = UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + entry.count)])
            slice.copyBytes(from: entry)
            iovecs.append(iovec(iov_base: slice.baseAddress, iov_len: entry.count))
            offset += entry.count
        }
        return iovecs.withUnsafeBufferPointer { body($0.baseAddress!, Int32($0.count)) }
    }
}

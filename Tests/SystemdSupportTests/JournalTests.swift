import Glibc
import Logging
import Testing

@testable import SystemdSupport

@Suite struct JournalFieldRules {
    @Test(arguments: ["MESSAGE", "DBBACKUP_SHA256", "A", "X9_", String(repeating: "A", count: 64)])
    func validNames(name: String) { #expect(JournalField.isValidName(name)) }

    @Test(arguments: ["", "_PID", "9LIVES", "message", "DB-BACKUP", "DB.X", "ÄB", String(repeating: "A", count: 65)])
    func invalidNames(name: String) { #expect(!JournalField.isValidName(name)) }

    @Test func sanitizing() {
        #expect(JournalField.sanitizedName("registration") == "REGISTRATION")
        #expect(JournalField.sanitizedName("size.bytes") == "SIZE_BYTES")
        #expect(JournalField.sanitizedName("_secret") == "F_SECRET")
        #expect(JournalField.sanitizedName("2fa") == "F_2FA")
        #expect(JournalField.sanitizedName("") == "F_")
        #expect(JournalField.sanitizedName("ünï") == "F__N__")  // UTF-8 bytes each become "_"
        #expect(JournalField.sanitizedName(String(repeating: "k", count: 80)).count == 64)
        for key in ["registration", "_x", "9", "", "a b", "ünï", String(repeating: "z", count: 99)] {
            #expect(JournalField.isValidName(JournalField.sanitizedName(key)), "\(key)")
        }
    }

    @Test func sendValidatesBeforeSending() {
        let noMessage = #expect(throws: SystemdError.self) { try JournalWriter.send(["PRIORITY": "6"]) }
        #expect(noMessage?.code == .invalidJournalField)
        let badName = #expect(throws: SystemdError.self) { try JournalWriter.send(["MESSAGE": "x", "bad-name": "y"]) }
        #expect(badName?.code == .invalidJournalField)
    }
}

@Suite struct JournalLogHandlerFields {
    @Test func metadataBecomesFieldsAndCannotOverrideFixedOnes() {
        let event = LogEvent(
            level: .error, message: "upload failed",
            metadata: ["registration": "nightly", "db.size": "42", "MESSAGE": "spoofed", "priority": "7"],
            source: nil, file: "X.swift", function: "f()", line: 7
        )
        let fields = JournalLogHandler.fields(
            event: event, label: "dbbackup.run", identifier: "dbbackup",
            handlerMetadata: ["run": "abc"], provider: nil
        )
        #expect(fields["MESSAGE"] == "upload failed")
        #expect(fields["PRIORITY"] == "3")
        #expect(fields["REGISTRATION"] == "nightly")
        #expect(fields["DB_SIZE"] == "42")
        #expect(fields["RUN"] == "abc")
        #expect(fields["SYSLOG_IDENTIFIER"] == "dbbackup")
        #expect(fields["DBBACKUP_LOGGER"] == "dbbackup.run")
        #expect(fields["CODE_LINE"] == "7")
        #expect(fields.keys.allSatisfy(JournalField.isValidName))
    }

    @Test func levels() {
        #expect(JournalLogHandler.priority(.trace) == .debug)
        #expect(JournalLogHandler.priority(.notice) == .notice)
        #expect(JournalLogHandler.priority(.critical) == .critical)
    }
}

@Suite struct JournalStreamDetection {
    /// A temporary file's fd and its "DEV:INODE".
    private func tempFile() throws -> (fd: Int32, id: String) {
        var template = Array("/tmp/systemd-support-stream-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        var info = stat()
        try #require(fstat(fd, &info) == 0)
        return (fd, "\(info.st_dev):\(info.st_ino)")
    }

    @Test func matchesOnlyTheNamedStream() throws {
        let file = try tempFile()
        defer { close(file.fd) }
        #expect(JournalStream.isConnected(fd: file.fd, journalStream: file.id))
        let other = try tempFile()
        defer { close(other.fd) }
        #expect(!JournalStream.isConnected(fd: other.fd, journalStream: file.id))
        #expect(!JournalStream.isConnected(fd: file.fd, journalStream: nil))
        #expect(!JournalStream.isConnected(fd: file.fd, journalStream: "garbage"))
        #expect(!JournalStream.isConnected(fd: file.fd, journalStream: file.id + ":1"))
        #expect(!JournalStream.isConnected(fd: 9999, journalStream: file.id))
    }
}

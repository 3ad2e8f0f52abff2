import Testing

@testable import BackupCore

@Suite("Why a backup looks wrong, in words")
struct SuspectCheckTests {
    @Test("sizes are written in MiB with one decimal from 1 MiB up, in bytes below")
    func byteCounts() {
        #expect(SuspectCheck.byteCount(8192) == "8192 bytes")
        #expect(SuspectCheck.byteCount(1 << 20) == "1.0 MiB")
        #expect(SuspectCheck.byteCount(159 << 20 + 600 << 10) == "159.5 MiB")
    }
}

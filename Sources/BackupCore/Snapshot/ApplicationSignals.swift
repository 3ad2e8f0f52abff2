import Glibc
import SystemCalls

/// What the writeback thread looks at, every tick, to tell how the application fares: its
/// commits (the WAL index), the kernel's I/O pressure, and the files' modification times.
/// Each is read with one `pread` or `stat`, and each may be missing: the controller uses
/// what there is.
struct ApplicationSignals {
    private var walIndex: WALIndexHeader
    private let pressure: IOPressure?
    private var activity: WriteActivity

    init(database: String) {
        walIndex = WALIndexHeader(database: database)
        pressure = IOPressure.open()
        activity = WriteActivity(database: database, calmAfter: WritebackController.calmAfter)
    }

    mutating func look(at now: ContinuousClock.Instant) -> WritebackController.Look {
        WritebackController.Look(
            commits: walIndex.changeCounter(), stallMicroseconds: pressure?.someTotal(),
            filesChanged: activity.isWriting(at: now))
    }

    func close() {
        walIndex.close()
        pressure?.close()
    }
}

/// The header of a WAL database's index (`DATABASE-shm`), which every connection maps: its
/// change counter `iChange` (offset 8, 32 bits, native byte order) goes up by one with every
/// write transaction committed, by any connection, and with nothing else (not with reads, a
/// rollback or a checkpoint: checked against a real writer by the tests). Two copies of the
/// 48-byte header follow each other; a writer updates them one after the other, so a read
/// that finds them different, or not initialised, is skipped. See SQLite's wal.c
/// (WalIndexHdr). The file appears when the first connection reads the database; until then,
/// and for a database not in WAL mode, there is no counter.
struct WALIndexHeader {
    let path: String
    private var descriptor: Int32 = -1
    private var lastAttempt = 0

    /// The version SQLite writes into the header (`WALINDEX_MAX_VERSION`).
    static let version: UInt32 = 3_007_000

    init(database: String) { path = database + "-shm" }

    /// The counter now, or nil.
    mutating func changeCounter() -> UInt32? {
        if descriptor < 0 {
            // Not there yet (or never): look again every 20th time only.
            lastAttempt += 1
            guard lastAttempt % 20 == 1 else { return nil }
            guard let opened = try? FileSystem.open(path, O_RDONLY) else { return nil }
            descriptor = opened
        }
        var header = [UInt8](repeating: 0, count: 96)
        let count = header.withUnsafeMutableBytes { (try? Syscalls.read(descriptor, into: $0, at: 0, path: path)) ?? 0 }
        guard count == 96 else { return nil }
        return Self.changeCounter(header)
    }

    /// The change counter in the 96 bytes at the start of an index, or nil when the two
    /// copies differ (a writer is between them) or the header is not set up.
    static func changeCounter(_ header: [UInt8]) -> UInt32? {
        guard header.count >= 96, header[0..<48].elementsEqual(header[48..<96]) else { return nil }
        let word = { (offset: Int) in
            header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        }
        // Byte 12 is isInit.
        guard word(0) == version, header[12] == 1 else { return nil }
        return word(8)
    }

    func close() { if descriptor >= 0 { FileSystem.close(descriptor) } }
}

/// The kernel's I/O pressure (PSI): the total time, in microseconds, during which at least one
/// task waited for I/O. System-wide: the services' sandbox hides /proc/pressure
/// (`ProcSubset=pid`), but the root cgroup's `io.pressure` says the same and stays readable
/// (cgroup v2, or the unified hierarchy of a hybrid one). The service's own cgroup would only
/// tell how long the backup itself waited.
struct IOPressure {
    static let candidates = ["/proc/pressure/io", "/sys/fs/cgroup/io.pressure", "/sys/fs/cgroup/unified/io.pressure"]
    let path: String
    private let descriptor: Int32

    static func open(candidates: [String] = candidates) -> IOPressure? {
        for path in candidates {
            guard let descriptor = try? FileSystem.open(path, O_RDONLY) else { continue }
            let pressure = IOPressure(path: path, descriptor: descriptor)
            if pressure.someTotal() != nil { return pressure }
            FileSystem.close(descriptor)
        }
        return nil
    }

    /// `some ... total=N` now.
    func someTotal() -> UInt64? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { (try? Syscalls.read(descriptor, into: $0, at: 0, path: path)) ?? 0 }
        guard count > 0 else { return nil }
        return Self.someTotal(String(decoding: buffer[0..<count], as: UTF8.self))
    }

    /// Reads `some avg10=0.00 avg60=0.00 avg300=0.00 total=12345` (the first line).
    static func someTotal(_ text: String) -> UInt64? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("some ") }),
            let field = line.split(separator: " ").first(where: { $0.hasPrefix("total=") })
        else { return nil }
        return UInt64(field.dropFirst("total=".count))
    }

    func close() { FileSystem.close(descriptor) }
}

/// Whether the application is writing, judged by the modification times of the database and
/// its WAL (a commit changes one of them; a reader changes neither): it is while either
/// changed within the last `calmAfter`. What tells a rollback-journal database's writes.
struct WriteActivity {
    let paths: [String]
    let calmAfter: Duration
    private var seen: [Int64?]
    private var lastChange: ContinuousClock.Instant?

    /// - Parameters:
    ///   - now, wallClock: the same moment on both clocks (nanoseconds since the epoch for the
    ///     wall clock, which modification times use). A file modified within `calmAfter` before
    ///     it counts as a write then, so a copy that starts while the application writes is
    ///     paced from its first byte.
    init(
        database: String, calmAfter: Duration, now: ContinuousClock.Instant = .now,
        wallClock: Int64 = FileSystem.wallClockNanoseconds()
    ) {
        paths = [database, database + "-wal"]
        self.calmAfter = calmAfter
        seen = paths.map(FileSystem.modificationTime(ofNonEmpty:))
        // A modification time ahead of the wall clock tells nothing (a clock set back, or
        // faked in the tests): only a change seen from now on counts then.
        if let newest = seen.compactMap({ $0 }).max(), newest <= wallClock {
            let age = Duration.nanoseconds(wallClock - newest)
            if age < calmAfter { lastChange = now - age }
        }
    }

    mutating func isWriting(at now: ContinuousClock.Instant) -> Bool {
        let current = paths.map(FileSystem.modificationTime(ofNonEmpty:))
        if current != seen {
            seen = current
            lastChange = now
        }
        guard let lastChange else { return false }
        return now - lastChange < calmAfter
    }
}

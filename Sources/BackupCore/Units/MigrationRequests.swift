import FoundationEssentials
import Glibc
import SystemCalls

/// The meeting point of deploy scripts and the migration service, under the runtime
/// directory (/run/dbbackup):
///
/// - `migration-request`: the marker the path unit watches (`PathExists=`). Touching it by
///   hand asks for a migration backup, fire and forget.
/// - `requests/ID`: one file per `dbbackup pre-migrate`, created before the marker is touched.
/// - `results/ID.json`: written by the migration run for each request it served;
///   `migration-result.json` holds the latest result for anyone.
///
/// The run removes the marker first and claims the requests after, so a request arriving
/// during a run re-creates the marker and triggers the next run: none is lost.
///
/// Who may do what is set by owners and modes alone (see `Layout`): members of group
/// `dbbackup` may file a request and read its result, and nothing else; the migration
/// service's identity (the database's owner, which its `ExecStartPre=+` makes the owner of
/// these directories) claims requests and writes results.
public struct MigrationRequests: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public var marker: String { "\(directory)/migration-request" }
    public var requestsDirectory: String { "\(directory)/requests" }
    public var resultsDirectory: String { "\(directory)/results" }
    public var latestResult: String { "\(directory)/migration-result.json" }

    /// Owner, group and mode of each directory; tmpfiles.d/dbbackup.conf creates them the same
    /// way (root as the owner), and `dbbackup prepare-run` hands them to the service's identity.
    public enum Layout {
        /// setgid: new files get group dbbackup. Sticky: a member cannot remove or replace
        /// anyone else's file (the latest result, another's marker); the owner can.
        public static let directory: mode_t = 0o3775
        /// Members may create a request (w, x) but not list others' (no r); sticky: nor remove
        /// them. The owner lists and claims them.
        public static let requests: mode_t = 0o1730
        /// Members may read a result whose name (the request's random id) they know (x, no r),
        /// and write nothing; setgid: the results are group dbbackup, mode 0640.
        public static let results: mode_t = 0o2710
        public static let resultFile: mode_t = 0o640
        public static let groupName = "dbbackup"
    }

    /// Creates a missing subdirectory with its mode; the boot (tmpfiles) normally has. Only its
    /// owner to be may do so: a member creating it would own it.
    private func makeDirectory(_ path: String, mode: mode_t) throws {
        if FileSystem.isDirectory(path) { return }
        guard geteuid() == 0 || (try? Syscalls.status(directory))?.st_uid == geteuid() else {
            throw SystemError(
                operation: "mkdir (missing; created at boot by systemd-tmpfiles --create dbbackup.conf)", path: path,
                errno: ENOENT)
        }
        try FileSystem.makeDirectories(path, mode: mode)
        try? Syscalls.changeMode(path, mode)
        FileSystem.adoptOwnership(path, of: directory)
    }

    /// Makes `owner` the owner of the runtime directory and its two subdirectories (creating
    /// what is missing), with group dbbackup and the modes of `Layout`. For the migration
    /// service's `ExecStartPre=+` (root): the service then runs as `owner`.
    public func prepare(owner: uid_t) throws {
        let group = getgrnam(Layout.groupName).map { $0.pointee.gr_gid }
        for (path, mode) in [
            (directory, Layout.directory), (requestsDirectory, Layout.requests), (resultsDirectory, Layout.results),
        ] {
            try FileSystem.makeDirectories(path, mode: mode)
            try Syscalls.changeOwner(path, user: owner, group: group)
            try Syscalls.changeMode(path, mode)  // after chown, which clears setgid bits
        }
    }

    /// A file the other side must read or remove: its mode, and owned like its directory when
    /// root wrote it.
    private func share(_ path: String, mode: mode_t) {
        try? Syscalls.changeMode(path, mode)
        FileSystem.adoptOwnership(path, of: FileSystem.parent(of: path))
    }

    /// A filed request: its id, and the marker's modification time when this request created
    /// it (nil when the marker was already there).
    public struct Request: Sendable {
        public let id: String
        let createdMarker: Int64?
    }

    /// Files a request and touches the marker.
    public func submit() throws -> Request {
        try makeDirectory(requestsDirectory, mode: Layout.requests)
        try makeDirectory(resultsDirectory, mode: Layout.results)
        let id = Self.newID()
        let request = "\(requestsDirectory)/\(id)"
        // Created in place, not renamed into place: a member may not read (so not fsync) the
        // directory, and in /run (tmpfs) there is nothing to sync. A run only ever unlinks it.
        let fd = try FileSystem.open(request, O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
        defer { FileSystem.close(fd) }
        try FileSystem.writeAll(fd, Array("\(Timestamp.now().rfc3339) pid \(getpid())\n".utf8), path: request)
        share(request, mode: 0o640)
        var createdMarker: Int64?
        if !FileSystem.exists(marker) {
            let fd = try FileSystem.open(marker, O_WRONLY | O_CREAT, mode: 0o640)
            FileSystem.close(fd)
            share(marker, mode: 0o640)
            createdMarker = FileSystem.modificationTime(of: marker)
        }
        return Request(id: id, createdMarker: createdMarker)
    }

    /// Takes back a request nobody has claimed yet (its caller gave up waiting), so no run
    /// starts for it later. The marker goes too if this request created it, it was not
    /// touched since, and no other request waits (a member of group dbbackup may not list the
    /// requests: then the marker stays, as a spurious run costs less than a lost request).
    /// Returns false if a run had claimed it.
    @discardableResult
    public func withdraw(_ request: Request) -> Bool {
        guard (try? Syscalls.unlink("\(requestsDirectory)/\(request.id)")) != nil else { return false }
        let waiting = (try? FileManager.default.contentsOfDirectory(atPath: requestsDirectory))?.filter(Self.isValidID)
        if waiting?.isEmpty == true, let created = request.createdMarker,
            FileSystem.modificationTime(of: marker) == created
        {
            try? FileSystem.unlinkIfPresent(marker)
        }
        return true
    }

    /// For the migration run: removes the marker, then takes every pending request.
    public func claim() -> [String] {
        try? FileSystem.unlinkIfPresent(marker)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: requestsDirectory)) ?? []
        var ids: [String] = []
        for id in entries.sorted() where Self.isValidID(id) {
            // Another run may claim the same request; only the one whose unlink succeeds has it.
            if (try? Syscalls.unlink("\(requestsDirectory)/\(id)")) != nil { ids.append(id) }
        }
        return ids
    }

    public func writeResult(_ result: MigrationResult, for ids: [String]) {
        try? makeDirectory(resultsDirectory, mode: Layout.results)
        for id in ids {
            var own = result
            own.requestID = id
            let path = "\(resultsDirectory)/\(id).json"
            try? FileSystem.writeAtomically(Array(own.json.utf8), to: path, mode: Layout.resultFile)
            share(path, mode: Layout.resultFile)
        }
        try? FileSystem.writeAtomically(Array(result.json.utf8), to: latestResult, mode: Layout.resultFile)
        share(latestResult, mode: Layout.resultFile)
    }

    /// The result of a request, once the migration run has written it.
    public func result(for id: String) -> MigrationResult? {
        let path = "\(resultsDirectory)/\(id).json"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return MigrationResult(json: data)
    }

    /// The result of the latest migration run, whoever asked for it.
    public func latest() -> MigrationResult? {
        FileManager.default.contents(atPath: latestResult).flatMap(MigrationResult.init(json:))
    }

    /// Removes a result once read. Only root and the directory's owner may (members cannot
    /// remove anything there): otherwise it expires with the directory's tmpfiles age (1 day).
    public func removeResult(for id: String) {
        try? FileSystem.unlinkIfPresent("\(resultsDirectory)/\(id).json")
    }

    static func newID() -> String {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        return bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }

    static func isValidID(_ id: String) -> Bool {
        id.count == 24 && id.allSatisfy { $0.isHexDigit }
    }
}

/// What a migration run did, for every request it served.
public struct MigrationResult: Sendable, Equatable {
    public struct Backup: Sendable, Equatable {
        public var registration: String
        public var ok: Bool
        public var location: String?
        public var size: Int64?
        public var sha256: String?
        public var version: String?
        public var error: String?
        public var exitCode: Int32

        public init(
            registration: String, ok: Bool, location: String? = nil, size: Int64? = nil, sha256: String? = nil,
            version: String? = nil, error: String? = nil, exitCode: Int32 = 0
        ) {
            self.registration = registration
            self.ok = ok
            self.location = location
            self.size = size
            self.sha256 = sha256
            self.version = version
            self.error = error
            self.exitCode = exitCode
        }
    }

    public var requestID: String?
    public var finishedAt: Timestamp
    public var backups: [Backup]
    /// An error that stopped the run before any registration ran (e.g. configuration).
    public var error: String?

    public init(requestID: String? = nil, finishedAt: Timestamp = .now(), backups: [Backup], error: String? = nil) {
        self.requestID = requestID
        self.finishedAt = finishedAt
        self.backups = backups
        self.error = error
    }

    public var ok: Bool { error == nil && !backups.isEmpty && backups.allSatisfy(\.ok) }

    var json: String {
        var backups: [ConfigValue] = []
        for backup in self.backups {
            var entry: [String: ConfigValue] = [
                "registration": .string(backup.registration), "ok": .bool(backup.ok),
                "exit_code": .integer(Int(backup.exitCode)),
            ]
            if let location = backup.location { entry["location"] = .string(location) }
            if let size = backup.size { entry["size"] = .integer(Int(size)) }
            if let sha256 = backup.sha256 { entry["sha256"] = .string(sha256) }
            if let version = backup.version { entry["version"] = .string(version) }
            if let error = backup.error { entry["error"] = .string(error) }
            backups.append(.table(entry))
        }
        var object: [String: ConfigValue] = [
            "ok": .bool(ok),
            "finished_at": .string(finishedAt.rfc3339),
            "finished_at_ms": .integer(Int(finishedAt.millisecondsSinceEpoch)),
            "backups": .array(backups),
        ]
        if let requestID { object["request_id"] = .string(requestID) }
        if let error { object["error"] = .string(error) }
        return ConfigValue.table(object).json() + "\n"
    }

    init?(json data: Data) {
        guard let object = try? ConfigValue.parseJSON(String(decoding: data, as: UTF8.self)), case .table = object
        else { return nil }
        requestID = object["request_id"]?.stringValue
        finishedAt = Timestamp(millisecondsSinceEpoch: Int64(object["finished_at_ms"]?.intValue ?? 0))
        error = object["error"]?.stringValue
        backups = (object["backups"]?.arrayValue ?? []).map { entry in
            Backup(
                registration: entry["registration"]?.stringValue ?? "?", ok: entry["ok"]?.boolValue ?? false,
                location: entry["location"]?.stringValue, size: entry["size"]?.intValue.map(Int64.init),
                sha256: entry["sha256"]?.stringValue, version: entry["version"]?.stringValue,
                error: entry["error"]?.stringValue,
                exitCode: Int32(entry["exit_code"]?.intValue ?? 1))
        }
    }
}

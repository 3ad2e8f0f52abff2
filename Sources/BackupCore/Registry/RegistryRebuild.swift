import FoundationEssentials
import Glibc
import S3Client
import SystemCalls

/// `dbbackup registry rebuild`: recovers the registry's records from the stores themselves,
/// after the registry was lost or set aside as damaged. A backup it finds is recorded as
/// stored, before every backup the registry already holds (see `BackupRegistry.insertFound`).
public struct RegistryRebuild {
    public let registry: BackupRegistry

    public init(registry: BackupRegistry) { self.registry = registry }

    /// What was found in one registration's store.
    public struct Outcome: Sendable {
        public let registration: String
        public var recorded: [BackupRecord] = []
        /// Files or objects that look like backups but were not recorded, and why.
        public var skipped: [(name: String, reason: String)] = []
        /// Backups (found, or recorded since the registry was lost) that the rebuild judged
        /// suspect next to the good ones before them (see `BackupRegistry.judgeAgain`).
        public var suspect: [BackupRecord] = []
    }

    /// Rebuilds one filesystem registration from its directory: every file named as dbbackup
    /// names backups, not yet in the registry, with its SHA-256 computed now, its schema
    /// version and time read from its name, and (where the file system keeps extended
    /// attributes) its registration, trigger and original SHA-256 from those. A directory
    /// shared by several registrations is only rebuilt from files whose attributes say whose
    /// they are.
    public func rebuild(_ registration: Registration, directory: String, sharedWith others: [String]) throws -> Outcome
    {
        var outcome = Outcome(registration: registration.name)
        var found: [(backup: NewBackup, finishedAt: Timestamp, attempt: Int)] = []
        for name in UntrackedBackups.files(in: directory, registry: registry) {
            guard let parsed = BackupNaming.parse(name) else { continue }
            let path = "\(directory)/\(name)"
            let owner = FileSystem.attribute("dbbackup.registration", of: path)
            if let owner, owner != registration.name {
                continue  // another registration's backup, rebuilt with that one
            }
            if owner == nil && !others.isEmpty {
                outcome.skipped.append(
                    (
                        name,
                        """
                        the directory is shared with \(others.joined(separator: ", ")) and the file does not say \
                        whose it is; restore it directly with: dbbackup restore \(path) --to PATH
                        """
                    ))
                continue
            }
            let (sha256, size): (String, Int64)
            do {
                (sha256, size) = try FileSystem.sha256(of: path)
            } catch {
                outcome.skipped.append((name, "cannot be read: \(error)"))
                continue
            }
            if let recorded = FileSystem.attribute("dbbackup.sha256", of: path), recorded != sha256 {
                outcome.skipped.append(
                    (
                        name,
                        """
                        its SHA-256 \(sha256) differs from the one recorded when it was made (\(recorded)): it \
                        was damaged
                        """
                    ))
                continue
            }
            let trigger =
                FileSystem.attribute("dbbackup.trigger", of: path).flatMap(BackupTrigger.init(rawValue:)) ?? .manual
            let finished =
                FileSystem.modificationTime(of: path).map { Timestamp(millisecondsSinceEpoch: $0 / 1_000_000) }
                ?? parsed.createdAt
            let plainSHA256 = FileSystem.attribute("dbbackup.plain-sha256", of: path)
            found.append(
                (
                    NewBackup(
                        registration: registration.name, provider: "filesystem", location: .file(path: path),
                        version: parsed.version, size: size, sha256: sha256, plainSHA256: plainSHA256,
                        startedAt: parsed.createdAt, trigger: trigger),
                    finished, parsed.attempt
                ))
        }
        found.sort { ($0.backup.startedAt, $0.attempt) < ($1.backup.startedAt, $1.attempt) }
        let ids = try registry.insertFound(found.map { ($0.backup, $0.finishedAt) })
        outcome.suspect = try registry.judgeAgain(registration: registration.name, found: ids)
        outcome.recorded = try ids.compactMap { try registry.backup(id: $0) }
        return outcome
    }
}

extension RegistryRebuild {
    /// Rebuilds one S3 registration from its bucket: every object under its prefix named as
    /// dbbackup names backups, not yet in the registry, with the SHA-256, registration and
    /// trigger dbbackup stored as its metadata (HEAD). An object without that metadata (stored
    /// by hand, or by an older dbbackup) is downloaded to `scratch` to compute its SHA-256.
    /// The key (`target.accessKey` and `secret`) needs s3:ListBucket and s3:GetObject; the
    /// registration's own key rightly has neither. Objects that another registration's metadata claims are left to that
    /// one; a
    /// prefix shared with `others` is only rebuilt from objects whose metadata says whose they are.
    public func rebuild(
        _ registration: Registration, target: S3Target, secret: String, transfer: S3Transfer, scratch: String,
        sharedWith others: [String]
    ) throws -> Outcome {
        let reader = try S3Client(S3Store.configuration(target, secret: secret), policy: S3Store.policy(transfer))
        var outcome = Outcome(registration: registration.name)
        var found: [(backup: NewBackup, finishedAt: Timestamp, attempt: Int)] = []
        for object in try reader.listObjects(prefix: target.keyPrefix) {
            let name = String(object.key.dropFirst(target.keyPrefix.count))
            guard !name.contains("/"), let parsed = BackupNaming.parse(name) else { continue }
            let location = BackupLocation.object(
                S3ObjectAddress(
                    endpoint: target.endpoint, region: target.region,
                    forcePathStyle: target.forcePathStyle, bucket: target.bucket, key: object.key))
            if try registry.isClaimed(location) { continue }
            let info = try reader.headObject(key: object.key)
            let recorded = BackupAttributes.recorded(in: info.metadata)
            if let owner = recorded.registration, owner != registration.name { continue }
            if recorded.registration == nil && !others.isEmpty {
                outcome.skipped.append(
                    (
                        name,
                        """
                        the prefix is shared with \(others.joined(separator: ", ")) and the object's metadata \
                        does not say whose it is; restore it directly with: dbbackup restore \
                        s3://\(target.bucket)/\(object.key) --to PATH
                        """
                    ))
                continue
            }
            var sha256 = recorded.sha256
            if sha256 == nil {
                let copy = "\(scratch)/.dbbackup-rebuild-\(getpid())"
                defer { try? FileSystem.unlinkIfPresent(copy) }
                do {
                    sha256 = try reader.getObject(key: object.key, toFile: copy).sha256
                } catch {
                    outcome.skipped.append((name, "cannot be read to compute its SHA-256: \(error)"))
                    continue
                }
            }
            let created = parsed.createdAt
            let finished = object.lastModified.map { Timestamp(millisecondsSinceEpoch: $0 * 1000) } ?? created
            found.append(
                (
                    NewBackup(
                        registration: registration.name, provider: "s3", location: location, version: parsed.version,
                        size: object.size, sha256: sha256 ?? "", plainSHA256: recorded.plainSHA256, startedAt: created,
                        trigger: recorded.trigger ?? .manual),
                    finished, parsed.attempt
                ))
        }
        found.sort { ($0.backup.startedAt, $0.attempt) < ($1.backup.startedAt, $1.attempt) }
        let ids = try registry.insertFound(found.map { ($0.backup, $0.finishedAt) })
        outcome.suspect = try registry.judgeAgain(registration: registration.name, found: ids)
        outcome.recorded = try ids.compactMap { try registry.backup(id: $0) }
        return outcome
    }
}

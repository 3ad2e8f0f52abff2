import FoundationEssentials
import Glibc
import Hashing
import S3Client
import SystemCalls

/// A bucket in an S3-compatible store. The snapshot is staged in the state directory, then
/// uploaded under `prefix + file name`; the upload is confirmed by the PUT response alone
/// (the store checks x-amz-content-sha256, and Content-MD5 or each part's CRC-32, against the
/// bytes), so the agent needs only s3:PutObject and s3:DeleteObject.
struct S3Store: BackupStore {
    let registration: String
    let target: S3Target
    let client: S3Client
    let stagingDirectory: String
    private let secret: String
    private let transfer: S3Transfer

    var provider: String { "s3" }
    var needsMD5: Bool { true }
    var keepsStagingFile: Bool { false }

    /// Every backup object's Content-Type, by its form: an SQLite database file (IANA's
    /// registered type), zstd-compressed data (`application/zstd`, RFC 8878), or an age file,
    /// which has no registered type.
    static func contentType(of key: String) -> String {
        if key.hasSuffix(".age") { return "application/octet-stream" }
        if key.hasSuffix(".zst") { return "application/zstd" }
        return "application/vnd.sqlite3"
    }

    init(
        registration: String, target: S3Target, secret: String, transfer: S3Transfer, stagingDirectory: String
    ) throws(RunFailure) {
        self.registration = registration
        self.target = target
        self.stagingDirectory = stagingDirectory
        self.secret = secret
        self.transfer = transfer
        do {
            client = try S3Client(Self.configuration(target, secret: secret), policy: Self.policy(transfer))
        } catch {
            throw RunFailure(.configuration, registration: registration, "\(error)")
        }
    }

    /// The store of an s3 registration for a run: with the stored secret (from the service's
    /// credentials under systemd), or with the instance role's credentials.
    static func make(
        registration name: String, target: S3Target, locations: Locations, transfer: S3Transfer
    ) throws(RunFailure) -> S3Store {
        var secret = ""
        if !target.settings.usesInstanceCredentials {
            let secrets = SecretFiles(locations: locations)
            guard let stored = secrets.secretForRun(name) else {
                throw RunFailure(
                    .configuration, registration: name,
                    """
                    no S3 secret key is stored (\(secrets.path(for: name))); store it with: dbbackup registration \
                    edit \(name) --secret-key-stdin
                    """
                )
            }
            secret = stored
        }
        return try S3Store(
            registration: name, target: target, secret: secret, transfer: transfer,
            stagingDirectory: locations.stagingDirectory)
    }

    /// The client configuration of a registration's target. `secret` is ignored with instance
    /// credentials. A legacy bucket name always goes path-style.
    static func configuration(_ target: S3Target, secret: String) -> S3Configuration {
        let settings = target.settings
        return S3Configuration(
            endpoint: target.endpoint, bucket: target.bucket, region: target.region,
            forcePathStyle: target.forcePathStyle || S3BucketName.isLegacy(target.bucket),
            accessKey: target.accessKey, secretKey: settings.usesInstanceCredentials ? "" : secret,
            credentialSource: settings.usesInstanceCredentials
                ? .instanceMetadata(endpoint: instanceMetadataEndpoint) : .keys,
            serverSideEncryption: settings.clientEncryption, storageClass: settings.storageClass)
    }

    /// The metadata service instance credentials come from: EC2's, always, in production.
    /// TEST HOOK: `DBBACKUP_TEST_IMDS_ENDPOINT` points it at a stand-in, because no real
    /// instance metadata service can run on a test machine (scripts/s3/imds_double.py). It is
    /// not a setting: nothing but the tests should ever need another address.
    static var instanceMetadataEndpoint: String {
        ProcessInfo.processInfo.environment["DBBACKUP_TEST_IMDS_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? InstanceMetadata.defaultEndpoint
    }

    static func policy(_ transfer: S3Transfer) -> TransferPolicy {
        TransferPolicy(
            multipartThreshold: Int64(transfer.multipartThresholdMiB) << 20,
            partSize: Int64(transfer.partSizeMiB) << 20,
            concurrentParts: transfer.concurrentParts,
            retry: RetryPolicy(maxAttempts: transfer.maxAttempts, totalTimeout: .seconds(transfer.retrySeconds)),
            connectTimeout: .seconds(transfer.connectTimeoutSeconds),
            lowSpeedTime: .seconds(transfer.stallSeconds),
            caBundlePath: transfer.caBundle)
    }

    func prepare() throws(RunFailure) {
        do {
            if !FileSystem.isDirectory(stagingDirectory) {
                try FileSystem.makeDirectories(stagingDirectory, mode: 0o700)
                FileSystem.adoptOwnership(stagingDirectory, of: FileSystem.parent(of: stagingDirectory))
            }
        } catch {
            throw RunFailure(
                .store, registration: registration, "staging directory \(stagingDirectory) cannot be created: \(error)")
        }
    }

    func stagingPath(registration: String, startedAt: Timestamp) -> String {
        StagingFiles.path(in: stagingDirectory, registration: registration, startedAt: startedAt)
    }

    func location(forFileName name: String) -> BackupLocation {
        .object(
            S3ObjectAddress(
                endpoint: target.endpoint, region: target.region, forcePathStyle: target.forcePathStyle,
                bucket: target.bucket, key: target.keyPrefix + name))
    }

    func place(
        staging: String, digests: FileDigests, at location: BackupLocation, attributes: BackupAttributes,
        progress: @escaping (Int64, Int64) -> Void
    ) throws(RunFailure) -> Bool {
        guard case .object(let object) = location else { return false }
        let key = object.key
        do {
            // The metadata lets `registry rebuild` and `restore s3://…` know the object without the registry.
            _ = try client.putObject(
                key: key, fromFile: staging, knownDigests: digests, contentType: Self.contentType(of: key),
                metadata: attributes.objectMetadata, progress: progress)
        } catch {
            throw uploadFailed(error, key: key)
        }
        try? FileSystem.unlinkIfPresent(staging)
        return true
    }

    /// Plain backups that go up as a multipart upload (above `multipart_threshold_mib`, 128 MiB
    /// by default) go up while they are copied; below it a single PUT of the finished file,
    /// which costs two requests fewer and never leaves parts behind, is as fast: such a file's
    /// copy takes well under a second.
    func placesWhileCopying(size: Int64) -> Bool { client.policy.usesMultipart(forFileSize: size) }

    func startPlacing(
        at location: BackupLocation, size: Int64, staging: String, attributes: BackupAttributes,
        partStored: @escaping @Sendable () -> Void,
        progress: @escaping @Sendable (Int64, Int64) -> Void
    ) throws(RunFailure) -> any PlacementInProgress {
        guard case .object(let object) = location else {
            throw RunFailure(.store, registration: registration, "\(location) is a file, not an S3 object")
        }
        // S3 takes an object's metadata with CreateMultipartUpload, before the SHA-256 is known,
        // and changing it later needs s3:GetObject: such objects carry no dbbackup-sha256 (the
        // registry has it; `registry rebuild` reads the object to compute it).
        let metadata = attributes.objectMetadata.filter { !$0.value.isEmpty && $0.key != "dbbackup-sha256" }
        do {
            let upload = try client.startUpload(
                key: object.key, ofGrowingFile: staging, size: size, contentType: Self.contentType(of: object.key),
                metadata: metadata, partStored: { _ in partStored() }, progress: progress)
            return S3Placement(upload: upload, store: self)
        } catch {
            throw RunFailure(.store, registration: registration, "upload failed: \(error)")
        }
    }

    /// The run's failure for an upload of `key` that failed. So that a failed run leaves nothing
    /// behind, the store may hold the key although the answer was an error: it is deleted at
    /// once (`removeAfterFailure`), unless no attempt reached the store (nothing can be there).
    func uploadFailed(_ error: S3Error, key: String) -> RunFailure {
        if !error.neverConnected { removeAfterFailure(key: key) }
        var failure = RunFailure(.store, registration: registration, "upload failed: \(error)")
        failure.nothingSent = error.neverConnected
        return failure
    }

    /// A brief DELETE of `key` after a failed upload: the store may hold the object although
    /// the last answer was an error (stored, then 500). Best effort, and brief: a store that
    /// just failed every attempt should not hold the run through a second round of them.
    func removeAfterFailure(key: String) {
        let configured = client.policy.retry
        try? client.deleteObject(
            key: key,
            retry: RetryPolicy(
                maxAttempts: min(2, configured.maxAttempts),
                totalTimeout: min(.seconds(30), configured.totalTimeout)))
    }

    func delete(_ location: BackupLocation) throws {
        guard case .object(let object) = location else {
            throw StoreError(
                message:
                    "\(location) is a file, not an S3 object; this registration now stores in s3://\(target.bucket)")
        }
        let recorded = address(of: object)
        if recorded == target {
            try client.deleteObject(key: object.key)
            return
        }
        // Moved since (`registration edit --bucket`, `--endpoint`, …): deleted where it was
        // stored, with the registration's key, which may not be allowed there.
        do {
            try S3Client(Self.configuration(recorded, secret: secret), policy: Self.policy(transfer)).deleteObject(
                key: object.key)
        } catch {
            let store = recorded.endpoint.isEmpty ? "AWS" : recorded.endpoint
            throw StoreError(
                message:
                    """
                    \(error) (it was stored at \(store), where registration \(registration) stored before it was \
                    changed)
                    """
            )
        }
    }

    /// The registration's store as it was when `object` was stored: its recorded endpoint,
    /// bucket, region and addressing (those a record of an older dbbackup lacks are taken as
    /// configured now).
    private func address(of object: S3ObjectAddress) -> S3Target {
        var recorded = target
        recorded.endpoint = object.endpoint ?? target.endpoint
        recorded.bucket = object.bucket
        recorded.region = object.region ?? target.region
        recorded.forcePathStyle = object.forcePathStyle ?? target.forcePathStyle
        return recorded
    }

    func removeStagingLeftovers() { StagingFiles.removeLeftovers(in: stagingDirectory) }
}

/// A plain backup going up as a multipart upload while its snapshot is copied and verified
/// (see `LandingUpload`): committed by `finish`, after the verification.
struct S3Placement: PlacementInProgress {
    let upload: LandingUpload
    let store: S3Store

    var partSize: Int64 { upload.partSize }

    func partReady(_ part: Snapshot.Part) {
        upload.partReady(
            LandingUpload.PartDigests(
                index: part.index, length: part.length, sha256: part.sha256, crc32: part.crc32))
    }

    func finish(digests: FileDigests, beforeCommit: () -> Void) throws(RunFailure) {
        do {
            _ = try upload.complete(fileSHA256: digests.sha256.hexString, beforeCommit: beforeCommit)
        } catch {
            // A failed part was discarded already; a failed CompleteMultipartUpload may have
            // stored the object all the same.
            throw store.uploadFailed(error, key: upload.key)
        }
    }

    func discard() -> String? {
        let discarded = upload.discard()
        return discarded.clean ? nil : discarded.note
    }
}

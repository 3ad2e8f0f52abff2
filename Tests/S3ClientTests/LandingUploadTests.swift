import Foundation
import Hashing
import S3Client
import Testing

/// A multipart upload of a file that is still being written (LandingUpload), against each real
/// server: parts go up as they are handed in, in any order; the object is the file; a
/// discarded upload leaves neither an object nor an incomplete upload, with the agent's key
/// (PutObject and DeleteObject only) as with the admin's (which may abort).
struct LandingScenarios {
    let server: S3TestServer
    let partSize = 5 * 1024 * 1024

    func uniqueKey(_ name: String) -> String { "landing-\(name)-\(UUID().uuidString.prefix(8)).db" }

    /// The keys of the bucket's incomplete multipart uploads (the admin lists them with boto3).
    func incompleteUploads() throws -> [String] {
        let output = try TestSupport.run(
            "python3",
            [
                "-c",
                """
                import boto3, sys
                s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name=sys.argv[2] or "us-east-1",
                                  aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
                for upload in s3.list_multipart_uploads(Bucket=sys.argv[5]).get("Uploads", []): print(upload["Key"])
                """, server.endpoint, server.region, server.values["S3_ADMIN_ACCESS_KEY"] ?? "",
                server.values["S3_ADMIN_SECRET_KEY"] ?? "",
                server.bucket,
            ])
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func digests(_ bytes: Data, index: Int) -> LandingUpload.PartDigests {
        let slice = bytes[(index * partSize)..<min(bytes.count, (index + 1) * partSize)]
        return LandingUpload.PartDigests(
            index: index, length: Int64(slice.count), sha256: Digest.hash(.sha256, slice), crc32: CRC32(slice).bytes)
    }

    /// Waits (10 s at most) until `condition` holds.
    func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// The file is written last part first; each part is handed in once written. The last part
    /// goes up before the rest of the file exists.
    func partsAsTheyLand() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("source")
        let size = 4 * partSize + 12_345
        try TestSupport.makeFile(at: source, size: size, seed: 18)
        let bytes = try Data(contentsOf: source)
        let growing = dir.appendingPathComponent("growing.db")
        _ = FileManager.default.createFile(atPath: growing.path, contents: nil)
        let key = uniqueKey("parts")
        let stored = Locked<[Int]>([])
        let upload = try server.client(.agent).startUpload(
            key: key, ofGrowingFile: growing.path, size: Int64(size), contentType: "application/vnd.sqlite3",
            metadata: ["dbbackup-version": "42"], partStored: { index in stored.update { $0.append(index) } })
        #expect(upload.partCount == 5)
        let handle = try FileHandle(forWritingTo: growing)
        for index in (0..<upload.partCount).reversed() {
            try handle.seek(toOffset: UInt64(index * partSize))
            try handle.write(contentsOf: bytes[(index * partSize)..<min(size, (index + 1) * partSize)])
            upload.partReady(digests(bytes, index: index))
            if index == upload.partCount - 1 {
                #expect(
                    eventually { stored.get().contains(index) }, "the last part went up before the others were written")
            }
        }
        try handle.close()
        let whole = Digest.hash(.sha256, bytes).hexString
        // Every part is up before the commit: the upload no longer holds the file, so a caller
        // may remove it while the store completes the upload (its pages are then dropped).
        var openWhenCommitting: [String] = []
        let put = try upload.complete(fileSHA256: whole) {
            openWhenCommitting = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [])
                .filter {
                    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == growing.path
                }
            try? FileManager.default.removeItem(at: growing)
        }
        #expect(openWhenCommitting.isEmpty, "still open when the upload is committed: \(openWhenCommitting)")
        #expect(put.partCount == 5)
        #expect(put.sha256 == whole)
        #expect(Set(stored.get()) == Set(0..<5))
        let copy = dir.appendingPathComponent("copy.db")
        let got = try server.client(.admin).getObject(key: key, toFile: copy.path)
        #expect(got.sha256 == whole)
        #expect(got.metadata["dbbackup-version"] == "42")
        #expect(got.contentType == "application/vnd.sqlite3")
        #expect(try !incompleteUploads().contains(key))
        try server.client(.agent).deleteObject(key: key)
    }

    /// `partsUp` parts go up, then the upload is discarded: nothing is left.
    func discard(_ identity: S3TestServer.Identity, partsUp: Int) throws -> LandingUpload.Discarded {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("growing.db")
        try TestSupport.makeFile(at: file, size: 3 * partSize, seed: 19)
        let bytes = try Data(contentsOf: file)
        let key = uniqueKey("discard")
        let stored = Locked<Int>(0)
        let upload = try server.client(identity).startUpload(
            key: key, ofGrowingFile: file.path, size: Int64(bytes.count),
            partStored: { _ in stored.update { $0 += 1 } })
        for index in 0..<partsUp { upload.partReady(digests(bytes, index: index)) }
        #expect(eventually { stored.get() == partsUp })
        if partsUp == 0 {
            #expect(eventually { (try? incompleteUploads().contains(key)) == true }, "the upload was created at once")
        }
        let discarded = upload.discard()
        #expect(discarded.clean, "\(discarded.note)")
        if case .failure(let error) = Result(catching: { try server.client(.admin).headObject(key: key) }) {
            #expect((error as? S3Error)?.code == .noSuchKey, "\(error)")
        } else {
            Issue.record("\(key) is in the store after discard(): \(discarded.note)")
        }
        #expect(try !incompleteUploads().contains(key), "an incomplete upload of \(key) is left: \(discarded.note)")
        return discarded
    }

    /// The store checks each part against the SHA-256 handed in, which the signature covers
    /// (radosgw; moto checks none of a part's digests). Parts carry no Content-MD5.
    func damagedPartIsRefused() throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("growing.db")
        try TestSupport.makeFile(at: file, size: 2 * partSize, seed: 20)
        let bytes = try Data(contentsOf: file)
        var other = bytes
        other[partSize + 3] ^= 0xff  // the bytes the digests of part 2 were computed from differ by one bit
        let key = uniqueKey("damaged")
        let upload = try server.client(.agent).startUpload(key: key, ofGrowingFile: file.path, size: Int64(bytes.count))
        upload.partReady(digests(bytes, index: 0))
        upload.partReady(digests(other, index: 1))
        let error = #expect(throws: S3Error.self) {
            try upload.complete(fileSHA256: Digest.hash(.sha256, bytes).hexString)
        }
        #expect(error?.httpStatus == 400, "\(String(describing: error))")
        #expect(error?.code == .contentSHA256Mismatch, "\(String(describing: error))")
        if case .success = Result(catching: { try server.client(.admin).headObject(key: key) }) {
            Issue.record("\(key) was stored")
        }
        #expect(try !incompleteUploads().contains(key))
    }
}

@Suite("Uploads of a file still being written: moto")
struct LandingUploadMotoTests {
    var scenarios: LandingScenarios { get throws { LandingScenarios(server: try TestServers.moto.get()) } }

    @Test("parts go up as they are handed in, in any order, and the object is the file")
    func partsAsTheyLand() throws { try scenarios.partsAsTheyLand() }

    @Test(
        "discarded with the agent's key (no s3:AbortMultipartUpload): completed and deleted, nothing left",
        arguments: [0, 2])
    func discardAsAgent(partsUp: Int) throws {
        let discarded = try scenarios.discard(.agent, partsUp: partsUp)
        #expect(discarded.note.contains("completed and its object deleted"), "\(discarded.note)")
    }

    @Test("discarded with a key that may abort: aborted, nothing left")
    func discardAsAdmin() throws {
        let discarded = try scenarios.discard(.admin, partsUp: 2)
        #expect(discarded.note.contains("aborted"), "\(discarded.note)")
    }
}

@Suite("Uploads of a file still being written: Ceph radosgw", .enabled(if: TestServers.radosgwExpected))
struct LandingUploadRadosgwTests {
    var scenarios: LandingScenarios { get throws { LandingScenarios(server: try TestServers.radosgw.get()) } }

    @Test("parts go up as they are handed in, in any order, and the object is the file")
    func partsAsTheyLand() throws { try scenarios.partsAsTheyLand() }

    @Test("discarded with the agent's key: nothing left", arguments: [0, 2])
    func discardAsAgent(partsUp: Int) throws { _ = try scenarios.discard(.agent, partsUp: partsUp) }

    @Test("a part whose bytes are not those its digests were computed from is refused, and nothing is left")
    func damagedPart() throws { try scenarios.damagedPartIsRefused() }
}

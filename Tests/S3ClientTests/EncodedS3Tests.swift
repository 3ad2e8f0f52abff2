import BackupCore
import Foundation
import S3Client
import SystemCalls
import TestKit
import Testing

@Suite("dbbackup with S3: compressed and encrypted backups", .serialized)
struct EncodedS3Tests {
    @Test(
        """
        an age-encrypted, compressed backup goes up as .db.zst.age, the store holds only ciphertext, and it comes \
        back with the identity
        """
    )
    func encryptedToMoto() throws {
        let server = try TestServers.moto.get()
        let product = try Product(server: server)
        defer { product.cleanUp() }
        let key = product.root.appendingPathComponent("backup.key").path
        let made = try Spawn.run("/usr/bin/age-keygen", ["-o", key])
        try #require(made.status == 0, "\(made.stderr)")
        let recipient = try #require(made.stderr.split(separator: " ").last).trimmingCharacters(
            in: .whitespacesAndNewlines)
        try product.expectOK(
            product.dbbackup("registration", "edit", "cloud", "--compression", "zstd", "--recipient", recipient))
        try product.expectOK(product.dbbackup("run", "cloud"))
        let backup = try #require(try product.storedBackups().first)
        let objectKey = try #require(product.key(backup))
        #expect(objectKey.hasSuffix(".db.zst.age"), "\(objectKey)")
        #expect(backup.plainSHA256 != nil && backup.plainSHA256 != backup.sha256)
        let info = try server.client(.admin).headObject(key: objectKey)
        #expect(info.contentType == "application/octet-stream", "\(String(describing: info.contentType))")
        #expect(info.metadata["dbbackup-plain-sha256"] == backup.plainSHA256)
        #expect(
            try product.adminRead(objectKey).get() == backup.sha256, "the store holds exactly the recorded ciphertext")

        let target = product.root.appendingPathComponent("restored.db").path
        let admin = (server.values["S3_ADMIN_ACCESS_KEY"] ?? "", (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        let restore = try product.dbbackup(
            "restore", "latest", "--to", target, "--identity", key, "--access-key", admin.0,
            "--secret-key-stdin", input: admin.1)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try FileSystem.sha256(of: target).sha256 == backup.plainSHA256)
        #expect(try SQLiteConnection(path: target, mode: .readOnly).scalar("SELECT count(*) FROM t") == "2000")
    }

    @Test(
        """
        a compressed backup above the multipart threshold is encoded from the verified snapshot, then goes up in \
        parts; a plain one goes up during the copy
        """
    )
    func compressedAboveThreshold() throws {
        let server = try TestServers.moto.get()
        // 16 MB of random blobs: the compressed form is still above the 5 MiB threshold.
        let product = try Product(
            server: server, megabytes: 16, s3Settings: "multipart_threshold_mib = 5\npart_size_mib = 5")
        defer { product.cleanUp() }
        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--compression", "zstd"))
        try product.expectOK(product.dbbackup("run", "cloud"))
        let compressed = try #require(try product.storedBackups().last)
        let compressedKey = try #require(product.key(compressed))
        #expect(compressedKey.hasSuffix(".db.zst"), "\(compressedKey)")
        let info = try server.client(.admin).headObject(key: compressedKey)
        #expect(info.etag?.contains("-") == true, "not a multipart upload: ETag \(info.etag ?? "nil")")
        // Encoded after verification, uploaded whole: its SHA-256 was known when the upload began.
        #expect(info.metadata["dbbackup-sha256"] == compressed.sha256)
        #expect(try product.adminRead(compressedKey).get() == compressed.sha256)

        try product.expectOK(product.dbbackup("registration", "edit", "cloud", "--compression", "none"))
        try product.expectOK(product.dbbackup("run", "cloud"))
        let plain = try #require(try product.storedBackups().last)
        let plainKey = try #require(product.key(plain))
        #expect(plainKey.hasSuffix(".db") && plain.id != compressed.id, "\(plainKey)")
        let plainInfo = try server.client(.admin).headObject(key: plainKey)
        #expect(plainInfo.etag?.contains("-") == true, "not a multipart upload: ETag \(plainInfo.etag ?? "nil")")
        // Sent during the copy: S3 took the metadata before the SHA-256 was known.
        #expect(plainInfo.metadata["dbbackup-sha256"] == nil)
        #expect(plainInfo.metadata["dbbackup-version"] == "5")
        #expect(try product.adminRead(plainKey).get() == plain.sha256)

        let admin = (server.values["S3_ADMIN_ACCESS_KEY"] ?? "", (server.values["S3_ADMIN_SECRET_KEY"] ?? "") + "\n")
        for record in [compressed, plain] {
            let target = product.root.appendingPathComponent("restored-\(record.id).db").path
            let restore = try product.dbbackup(
                "restore", String(record.id), "--to", target, "--access-key", admin.0,
                "--secret-key-stdin", input: admin.1)
            #expect(restore.status == 0, "\(restore.output)")
            #expect(try FileSystem.sha256(of: target).sha256 == (record.plainSHA256 ?? record.sha256))
        }
    }
}

import FoundationEssentials
import Glibc
import S3Client
import SystemCalls

/// `registration test`: proves a store accepts exactly what backups need, with a real
/// write and removal of a small probe, and says which step failed and why.
public struct BackupStoreProbe {
    public struct Step: Sendable {
        public let action: String
        public let ok: Bool
        public let detail: String?

        public init(action: String, ok: Bool, detail: String?) {
            self.action = action
            self.ok = ok
            self.detail = detail
        }
    }

    public let locations: Locations
    public let transfer: S3Transfer

    public init(locations: Locations, transfer: S3Transfer) {
        self.locations = locations
        self.transfer = transfer
    }

    public func run(_ registration: Registration) -> [Step] {
        let probeName = ".dbbackup-probe-\(getpid())-\(Timestamp.now().millisecondsSinceEpoch)"
        switch registration.provider {
        case .filesystem(let target):
            let path = "\(target.resolvedPath)/\(probeName)"
            do {
                try FileSystem.makeDirectories(target.resolvedPath, mode: 0o750)
                try FileSystem.writeAtomically(Array("dbbackup probe\n".utf8), to: path, mode: 0o600)
            } catch {
                return [Step(action: "write \(path)", ok: false, detail: "\(error)")]
            }
            do {
                try FileSystem.unlinkIfPresent(path)
                try FileSystem.fsyncDirectory(target.resolvedPath)
            } catch {
                return [
                    Step(action: "write \(path)", ok: true, detail: nil),
                    Step(action: "remove \(path)", ok: false, detail: "\(error)"),
                ]
            }
            return [
                Step(action: "write \(path)", ok: true, detail: nil),
                Step(action: "remove \(path)", ok: true, detail: nil),
            ]
        case .s3(let target):
            var steps: [Step] = []
            var secret = ""
            if !target.settings.usesInstanceCredentials {
                guard let stored = SecretFiles(locations: locations).secretForRun(registration.name) else {
                    return [
                        Step(
                            action: "read the secret key", ok: false,
                            detail:
                                """
                                none is stored; store it with: dbbackup registration edit \(registration.name) \
                                --secret-key-stdin
                                """
                        )
                    ]
                }
                secret = stored
            }
            let key = target.keyPrefix + probeName
            let client: S3Client
            do {
                client = try S3Client(S3Store.configuration(target, secret: secret), policy: S3Store.policy(transfer))
            } catch {
                return [Step(action: "configure the client", ok: false, detail: "\(error)")]
            }
            if target.settings.usesInstanceCredentials {
                let action = "get the instance role's credentials (IMDSv2)"
                do {
                    let credentials = try client.currentCredentials()
                    let until =
                        credentials.expiration.map { " until \(Timestamp(millisecondsSinceEpoch: $0 * 1000).rfc3339)" }
                        ?? ""
                    steps.append(
                        Step(
                            action: action, ok: true,
                            detail:
                                """
                                \(client.principal ?? "the instance role"), access key \
                                \(credentials.accessKey)\(until)
                                """
                        ))
                } catch {
                    return [Step(action: action, ok: false, detail: "\(error)")]
                }
            }
            // The probe goes up as a backup does (Content-Type, encryption, storage class), so a
            // bucket policy that demands encryption headers is tested too.
            let put =
                """
                PUT s3://\(target.bucket)/\(key) \
                (s3:PutObject\(target.settings.serverSideEncryption == "aws:kms" ? ", kms:GenerateDataKey" : ""))
                """
            do {
                try client.putObject(
                    key: key, bytes: Array("dbbackup probe\n".utf8), contentType: S3Store.contentType(of: key))
            } catch {
                return steps + [Step(action: put, ok: false, detail: "\(error)")]
            }
            steps.append(Step(action: put, ok: true, detail: nil))
            do {
                try client.deleteObject(key: key)
            } catch {
                return steps + [
                    Step(
                        action: "DELETE s3://\(target.bucket)/\(key) (s3:DeleteObject)", ok: false,
                        detail: "\(error); the probe object remains, remove it by hand")
                ]
            }
            return steps + [
                Step(action: "DELETE s3://\(target.bucket)/\(key) (s3:DeleteObject)", ok: true, detail: nil)
            ]
        }
    }

    /// What `registration test` cannot prove but a sysadmin should know: which key restores
    /// need, and, when backups can be large enough for multipart uploads, the lifecycle rule
    /// that removes the parts of an interrupted one (the backup key may not abort them).
    /// `databaseSize`: the database's size now, if known.
    public func notes(_ registration: Registration, databaseSize: Int64?) -> [String] {
        guard case .s3(let target) = registration.provider else { return [] }
        let objects = "arn:aws:s3:::\(target.bucket)/\(target.keyPrefix)*"
        var notes: [String] = []
        if target.settings.usesInstanceCredentials {
            notes.append(
                """
                restore needs s3:GetObject on \(objects): on this instance through its role (which backups do not \
                need), or elsewhere with a key that has it: dbbackup restore … --access-key KEY --secret-key-stdin
                """)
        } else {
            notes.append(
                "restore needs a key with s3:GetObject on \(objects), which this backup key should not have: "
                    + "give one with dbbackup restore … --access-key KEY --secret-key-stdin")
        }
        if target.settings.serverSideEncryption == "aws:kms" {
            notes.append(
                """
                restore also needs kms:Decrypt on the KMS key\(target.settings.kmsKeyID.map { " \($0)" } ?? ""), \
                and so do multipart uploads
                """
            )
        }
        let threshold = Int64(transfer.multipartThresholdMiB) << 20
        if let databaseSize, databaseSize * 2 >= threshold {
            let mib = databaseSize >> 20
            let rule = """
                {"Rules":[{"ID":"abort-incomplete-multipart-uploads","Status":"Enabled",\
                "Filter":{"Prefix":"\(target.keyPrefix)"},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}}]}
                """
            notes.append(
                """
                backups above \(transfer.multipartThresholdMiB) MiB go up as multipart uploads (the database has \
                \(mib) MiB now); an interrupted one leaves parts that are billed until removed, and this key may \
                not abort them. Add a lifecycle rule that does: aws s3api put-bucket-lifecycle-configuration \
                --bucket \(target.bucket) --lifecycle-configuration '\(rule)'
                """
            )
        }
        return notes
    }
}

#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import S3Client

/// `registration test`: proves a store accepts exactly what backups need, with a real
/// write and removal of a small probe, and says which step failed and why.
public struct StoreProbe {
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
                return [Step(action: "write \(path)", ok: true, detail: nil), Step(action: "remove \(path)", ok: false, detail: "\(error)")]
            }
            return [Step(action: "write \(path)", ok: true, detail: nil), Step(action: "remove \(path)", ok: true, detail: nil)]
        case .s3(let target):
            guard let secret = SecretStore(locations: locations).secretForRun(registration.name) else {
                return [Step(action: "read the secret key", ok: false, detail: "none is stored; store it with: dbbackup registration edit \(registration.name) --secret-key-stdin")]
            }
            let key = target.keyPrefix + probeName
            let client: S3Client
            do {
                client = try S3Client(S3Store.configuration(target, secret: secret), policy: S3Store.policy(transfer))
            } catch {
                return [Step(action: "configure the client", ok: false, detail: "\(error)")]
            }
            do {
                try client.putObject(key: key, bytes: Array("dbbackup probe\n".utf8))
            } catch {
                return [Step(action: "PUT s3://\(target.bucket)/\(key) (s3:PutObject)", ok: false, detail: "\(error)")]
            }
            let put = Step(action: "PUT s3://\(target.bucket)/\(key) (s3:PutObject)", ok: true, detail: nil)
            do {
                try client.deleteObject(key: key)
            } catch {
                return [put, Step(action: "DELETE s3://\(target.bucket)/\(key) (s3:DeleteObject)", ok: false,
                                  detail: "\(error); the probe object remains, remove it by hand")]
            }
            return [put, Step(action: "DELETE s3://\(target.bucket)/\(key) (s3:DeleteObject)", ok: true, detail: nil)]
        }
    }
}

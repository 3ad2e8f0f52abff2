import FoundationEssentials
import Glibc
import S3Client
import SystemCalls

/// The S3 secret keys: one root-only file per registration under `secrets/`, never in a
/// registration file. A secret is only ever shown masked.
public struct SecretFiles: Sendable {
    public let locations: Locations

    public init(locations: Locations) { self.locations = locations }

    public func path(for name: String) -> String { "\(locations.secretsDirectory)/\(name).secret" }

    /// `mini****`, or `****` for a short secret: one rule with the S3 client's descriptions.
    public static func mask(_ secret: String) -> String { S3Configuration.maskedSecret(secret) }

    /// Whether `value` is what a user sees in place of a stored secret, i.e. re-saving it
    /// must keep the stored secret.
    public static func isMasked(_ value: String) -> Bool { value.hasSuffix("****") && value.count <= 8 }

    /// The stored secret of a registration.
    public func secret(for name: String) -> String? {
        guard let bytes = try? FileSystem.readAll(path(for: name)) else { return nil }
        return Self.clean(bytes)
    }

    /// What the units set as a credential when a registration has no secret file: systemd
    /// fails a unit whose LoadCredential= source is missing unless SetCredential= gives a
    /// default, and this is that default. It means "no secret".
    public static let noSecretPlaceholder = "<no-secret-file>"

    /// The secret a backup run uses. Under systemd it comes from the service's credentials:
    /// `s3-secret.NAME` (the migration service, which runs several registrations) or
    /// `s3-secret` (the per-registration service). Run by hand, from the stored file.
    public func secretForRun(_ name: String) -> String? {
        if let directory = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] {
            for id in ["s3-secret.\(name)", "s3-secret"] {
                guard let bytes = try? FileSystem.readAll("\(directory)/\(id)") else { continue }
                let secret = Self.clean(bytes)
                return secret == Self.noSecretPlaceholder || secret.isEmpty ? nil : secret
            }
        }
        return secret(for: name)
    }

    private static func clean(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).trimmingLineBreaks
    }

    /// Stores a secret readable by root only (directory 0700, file 0600).
    public func store(_ secret: String, for name: String) throws {
        let previous = umask(0o077)
        defer { umask(previous) }
        try FileSystem.makeDirectories(locations.secretsDirectory, mode: 0o700)
        try FileSystem.writeAtomically(Array(secret.utf8), to: path(for: name), mode: 0o600)
    }

    public func remove(for name: String) throws { try FileSystem.unlinkIfPresent(path(for: name)) }

    /// The secret as typed or piped: one line, surrounding white space and line breaks removed.
    public static func normalize(_ input: String) throws(SecretError) -> String {
        let secret = input.trimmed
        guard !secret.isEmpty else { throw SecretError(message: "the secret key is empty") }
        guard !secret.contains(where: \.isNewline) else {
            throw SecretError(message: "the secret key must be a single line")
        }
        return secret
    }

    /// What to store given what the user supplied: a masked value keeps the stored secret.
    public func resolve(supplied: String, for name: String) throws(SecretError) -> String {
        if Self.isMasked(supplied) {
            guard let stored = secret(for: name) else {
                throw SecretError(
                    message:
                        """
                        the secret key of \(name) is given masked (\(supplied)) but no secret is stored for it \
                        here; supply the real secret key
                        """
                )
            }
            guard Self.mask(stored) == supplied else {
                throw SecretError(
                    message:
                        """
                        the secret key of \(name) is given masked (\(supplied)) but does not match the stored one \
                        (\(Self.mask(stored))); supply the real secret key, or the stored secret's mask to keep it
                        """
                )
            }
            return stored
        }
        return supplied
    }
}

public struct SecretError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

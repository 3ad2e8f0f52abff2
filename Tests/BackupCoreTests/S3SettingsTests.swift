import BackupCore
import Foundation
import Testing

/// The s3 registration keys of issue 14: credentials, server_side_encryption, kms_key_id,
/// storage_class; legacy bucket names; retention against a storage class's minimum duration.
@Suite("S3 settings of a registration")
struct S3SettingsTests {
    func read(_ body: String) throws -> (Registration?, [ConfigProblem]) {
        let toml = body + "\n[schedule]\ntype = \"daily\"\ntimes = [\"02:00\"]\n"
        let table = try ConfigValue.parseTOML(toml, file: "registrations.d/job.toml")
        return ConfigCodec.readRegistration(
            table, name: "job", file: "registrations.d/job.toml", configDirectory: "/etc/dbbackup")
    }

    func s3Target(_ body: String) throws -> S3Target? {
        if case .s3(let target)? = try read(body).0?.provider { return target }
        return nil
    }

    func problems(_ body: String, _ severity: ConfigProblem.Severity = .error) throws -> [String] {
        try read(body).1.filter { $0.severity == severity }.map(\.description)
    }

    let s3 = "provider = \"s3\"\nbucket = \"app-backups\"\n"

    @Test("instance credentials need no access key, and refuse one")
    func instanceCredentials() throws {
        let target = try #require(try s3Target(s3 + "credentials = \"instance\""))
        #expect(target.settings.usesInstanceCredentials)
        #expect(target.accessKey.isEmpty)
        #expect(
            try problems(s3 + "credentials = \"instance\"\naccess_key = \"AKIA1\"") == [
                "error: registrations.d/job.toml: access_key = \"AKIA1\": is not used with credentials = "
                    + "\"instance\": a registration has either "
                        + """
                        an access key and stored secret or the instance's role; remove access_key to use the \
                        instance's role, or remove credentials to use the access key
                        """
            ])
        #expect(
            try problems(s3 + "credentials = \"Instance\"").first?.contains(
                "credentials = \"Instance\": is not a credential source") == true)
        #expect(try problems(s3).first?.contains("access_key: is missing") == true)
        #expect(try s3Target(s3 + "access_key = \"A\"\ncredentials = \"secret\"")?.settings.credentials == .secret)
    }

    @Test("encryption and storage class: known values pass, near misses say how to write them")
    func encryptionAndClass() throws {
        let target = try #require(
            try s3Target(
                s3
                    + """
                    access_key = \"A\"\nserver_side_encryption = \"aws:kms\"\nkms_key_id = \
                    \"alias/backups\"\nstorage_class = \"GLACIER_IR\"
                    """
            ))
        #expect(
            target.settings
                == S3Settings(serverSideEncryption: "aws:kms", kmsKeyID: "alias/backups", storageClass: "GLACIER_IR"))
        #expect(
            try problems(s3 + "access_key = \"A\"\nserver_side_encryption = \"aes256\"").first?.contains(
                "write it as \"AES256\"") == true)
        #expect(
            try problems(s3 + "access_key = \"A\"\nserver_side_encryption = \"KMS\"").first?.contains(
                "is not a server-side encryption S3 offers") == true)
        #expect(
            try problems(s3 + "access_key = \"A\"\nserver_side_encryption = \"AES256\"\nkms_key_id = \"k\"").first?
                .contains("kms_key_id = \"k\": applies only with server_side_encryption = \"aws:kms\"") == true)
        #expect(
            try problems(s3 + "access_key = \"A\"\nstorage_class = \"standard_ia\"").first?.contains(
                "write it as \"STANDARD_IA\"") == true)
        #expect(
            try problems(s3 + "access_key = \"A\"\nstorage_class = \"COLD\"", .warning).first?.contains(
                "is not one of AWS's storage classes") == true)
        #expect(
            try problems(s3 + "access_key = \"A\"\nstorage_class = \"DEEP_ARCHIVE\"", .warning).first?.contains(
                "restoring one first needs an unarchive") == true)
        // The settings belong to s3 registrations only.
        #expect(
            try problems("provider = \"filesystem\"\npath = \"/b\"\nstorage_class = \"STANDARD_IA\"").first?
                .contains("storage_class: belongs to the s3 provider, not filesystem") == true)
    }

    @Test("the settings survive a save and load, and render only what differs from the defaults")
    func roundTrip() throws {
        let registration = Registration(
            name: "job",
            provider: .s3(
                S3Target(
                    bucket: "b-1", accessKey: "",
                    settings: S3Settings(
                        credentials: .instance, serverSideEncryption: "aws:kms",
                        kmsKeyID: "arn:aws:kms:eu-west-1:111122223333:key/abc", storageClass: "STANDARD_IA"))),
            schedule: .migration)
        let table = ConfigCodec.renderRegistration(registration)
        #expect(table["access_key"] == nil)
        #expect(table["credentials"] == .string("instance"))
        #expect(ConfigCodec.readRegistration(table, name: "job", file: "x", configDirectory: "/").0 == registration)
        let plain = ConfigCodec.renderRegistration(
            Registration(name: "p", provider: .s3(S3Target(bucket: "b-1", accessKey: "A")), schedule: .migration))
        #expect(S3Settings.fields.allSatisfy { plain[$0] == nil })
    }

    @Test("legacy bucket names are a warning; names invalid everywhere an error")
    func bucketNames() throws {
        #expect(try problems("provider = \"s3\"\nbucket = \"My_Old_Bucket\"\naccess_key = \"A\"").isEmpty)
        #expect(
            try problems("provider = \"s3\"\nbucket = \"My_Old_Bucket\"\naccess_key = \"A\"", .warning).first?.contains(
                "a legacy bucket name") == true)
        #expect(
            try problems("provider = \"s3\"\nbucket = \"my bucket\"\naccess_key = \"A\"").first?.contains(
                "may contain only letters, digits") == true)
        #expect(
            try problems("provider = \"s3\"\nbucket = \"ab\"\naccess_key = \"A\"").first?.contains(
                "3 to 255 characters") == true)
    }

    func registration(_ schedule: Schedule, storageClass: String? = "STANDARD_IA") -> Registration {
        Registration(
            name: "job",
            provider: .s3(S3Target(bucket: "b-1", accessKey: "A", settings: S3Settings(storageClass: storageClass))),
            schedule: schedule)
    }

    @Test("retention is checked against the class's minimum storage duration on a real calendar")
    func minimumDuration() {
        let two = TimeOfDay(hour: 2, minute: 0)!
        let daily = Schedule(kind: .daily, times: [two])
        // Daily: 30 backups span 30 days, STANDARD_IA's minimum.
        #expect(
            S3Settings.retentionWarning(registration(daily), retention: Retention(remote: .count(30)), file: "f") == nil
        )
        let warning = S3Settings.retentionWarning(
            registration(daily), retention: Retention(remote: .count(29)), file: "f")
        #expect(warning?.severity == .warning)
        #expect(warning?.message.contains("deleted after 29 day(s)") == true, "\(String(describing: warning))")
        #expect(warning?.fix?.contains("keep at least 30 remote backups") == true)
        // Weekly on Mondays and Thursdays: 26 runs span 87-88 days, 27 runs 91: GLACIER_IR's 90 days need 26 kept.
        let weekly = Schedule(kind: .weekly, times: [two], weekdays: [.mon, .thu])
        let glacierIR = registration(weekly, storageClass: "GLACIER_IR")
        let needed = S3Settings.retentionWarning(glacierIR, retention: Retention(remote: .count(2)), file: "f")?.fix
        #expect(needed?.contains("keep at least 26 remote backups") == true, "\(String(describing: needed))")
        #expect(S3Settings.retentionWarning(glacierIR, retention: Retention(remote: .count(26)), file: "f") == nil)
        #expect(S3Settings.retentionWarning(glacierIR, retention: Retention(remote: .count(25)), file: "f") != nil)
        // Monthly on the 1st: 3 backups can be 89 days apart (Jan 1 → Apr 1 of a common year is 90;
        // Nov 1 → Feb 1 is 92; Dec 1 → Mar 1 is 90; but Feb 1 → May 1 is 89).
        let monthly = Schedule(kind: .monthly, times: [two], days: [1])
        #expect(
            S3Settings.retentionWarning(
                registration(monthly, storageClass: "GLACIER"), retention: Retention(remote: .count(3)), file: "f")
                != nil)
        #expect(
            S3Settings.retentionWarning(
                registration(monthly, storageClass: "GLACIER"), retention: Retention(remote: .count(4)), file: "f")
                == nil)
        // Nothing to say: no pruning, a class without a minimum, a migration schedule.
        #expect(
            S3Settings.retentionWarning(registration(daily), retention: Retention(remote: .unlimited), file: "f") == nil
        )
        #expect(
            S3Settings.retentionWarning(
                registration(daily, storageClass: "INTELLIGENT_TIERING"), retention: Retention(remote: .count(1)),
                file: "f") == nil)
        #expect(
            S3Settings.retentionWarning(registration(.migration), retention: Retention(remote: .count(1)), file: "f")
                == nil)
    }
}

import S3Client

/// What an s3 registration asks of the store beyond where the bucket is: where the request
/// credentials come from (a stored secret, or the instance's role), encryption at rest, and the
/// storage class. Registration file keys (all optional):
///
///     credentials = "instance"            # IMDSv2 role credentials; no access_key, no stored secret
///     server_side_encryption = "aws:kms"  # or "AES256"
///     kms_key_id = "alias/backups"        # aws:kms only; default: the account's aws/s3 key
///     storage_class = "STANDARD_IA"       # e.g. STANDARD_IA, ONEZONE_IA, GLACIER_IR, INTELLIGENT_TIERING
///
/// Kept apart from `ConfigCodec` (which calls `read` and `render`) so the provider's other
/// fields and these grow independently.
public struct S3Settings: Sendable, Equatable {
    public enum Credentials: String, Sendable, CaseIterable {
        /// An access key in the registration and its secret stored under `secrets/` (the default).
        case secret
        /// Temporary credentials of the instance's IAM role (IMDSv2).
        case instance
    }

    public var credentials: Credentials
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS); nil: the bucket's default encryption.
    public var serverSideEncryption: String?
    public var kmsKeyID: String?
    /// nil: the store's default class (STANDARD).
    public var storageClass: String?

    public init(
        credentials: Credentials = .secret, serverSideEncryption: String? = nil, kmsKeyID: String? = nil,
        storageClass: String? = nil
    ) {
        self.credentials = credentials
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyID = kmsKeyID
        self.storageClass = storageClass
    }

    public var usesInstanceCredentials: Bool { credentials == .instance }

    /// The registration file keys these settings own.
    public static let fields = ["credentials", "server_side_encryption", "kms_key_id", "storage_class"]

    static let encryptions = ["AES256", "aws:kms"]

    /// The client's form of the encryption setting.
    var clientEncryption: S3Configuration.ServerSideEncryption? {
        switch serverSideEncryption {
        case "AES256"?: .s3
        case "aws:kms"?: .kms(keyID: kmsKeyID)
        default: nil
        }
    }

    // MARK: reading and writing registration tables

    /// Reads the keys of `fields`, reporting bad values; returns the settings and the keys
    /// that were present (a filesystem registration reports those as misplaced).
    static func read(_ root: inout TableReader, sink: ProblemSink) -> (settings: S3Settings, given: [String]) {
        let credentials = root.string("credentials", example: "\"instance\"")
        let encryption = root.string("server_side_encryption", example: "\"AES256\"")
        let kmsKeyID = root.string("kms_key_id", example: "\"alias/backups\"")
        let storageClass = root.string("storage_class", example: "\"STANDARD_IA\"")
        var settings = S3Settings()
        if let credentials {
            if let mode = Credentials(rawValue: credentials) {
                settings.credentials = mode
            } else {
                sink.error(
                    "credentials", "\"\(credentials)\"", "is not a credential source",
                    fix:
                        """
                        use \"instance\" for the instance's IAM role, or leave it out for the access key and \
                        stored secret
                        """
                )
            }
        }
        if let encryption {
            if encryptions.contains(encryption) {
                settings.serverSideEncryption = encryption
            } else if let exact = encryptions.first(where: { $0.lowercased() == encryption.lowercased() }) {
                sink.error(
                    "server_side_encryption", "\"\(encryption)\"", "is written differently from what S3 expects",
                    fix: "write it as \"\(exact)\"")
            } else {
                sink.error(
                    "server_side_encryption", "\"\(encryption)\"", "is not a server-side encryption S3 offers",
                    fix: "use \"AES256\" (keys managed by S3) or \"aws:kms\" (a KMS key; name it with kms_key_id)")
            }
        }
        if let kmsKeyID {
            if kmsKeyID.isEmpty || !kmsKeyID.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) {
                sink.error(
                    "kms_key_id", nil, "must be a KMS key id, key ARN or alias without spaces",
                    fix: "e.g. kms_key_id = \"alias/backups\" or \"arn:aws:kms:REGION:ACCOUNT:key/ID\"")
            } else if encryption != "aws:kms" {
                sink.error(
                    "kms_key_id", "\"\(kmsKeyID)\"", "applies only with server_side_encryption = \"aws:kms\"",
                    fix: "add server_side_encryption = \"aws:kms\", or remove kms_key_id")
            } else {
                settings.kmsKeyID = kmsKeyID
            }
        }
        if let storageClass {
            if storageClass.isEmpty
                || !storageClass.unicodeScalars.allSatisfy({
                    ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                })
            {
                let upper = storageClass.uppercased()
                sink.error(
                    "storage_class", "\"\(storageClass)\"",
                    "is not a storage class name (capital letters, digits and '_')",
                    fix: StorageClass.known[upper] != nil
                        ? "write it as \"\(upper)\"" : "e.g. storage_class = \"STANDARD_IA\"")
            } else {
                settings.storageClass = storageClass
                if StorageClass.known[storageClass] == nil {
                    sink.warning(
                        "storage_class", "\"\(storageClass)\"", "is not one of AWS's storage classes",
                        fix: "fine if your store offers it (`dbbackup registration test` will tell); AWS's: "
                            + StorageClass.known.keys.sorted().joined(separator: ", "))
                } else if StorageClass.archived.contains(storageClass) {
                    sink.warning(
                        "storage_class", "\"\(storageClass)\"",
                        "archives backups: restoring one first needs an unarchive "
                            + "(aws s3api restore-object), which takes hours and costs per GB",
                        fix:
                            """
                            GLACIER_IR is as cheap to keep and reads at once; keep \(storageClass) only for \
                            backups you hope never to read
                            """
                    )
                }
            }
        }
        let given = fields.filter { root.table[$0] != nil }
        return (settings, given)
    }

    /// Checks against the provider's other fields: instance credentials come with no access key.
    static func check(_ settings: S3Settings, accessKey: String?, sink: ProblemSink) {
        if settings.usesInstanceCredentials, let accessKey {
            sink.error(
                "access_key", accessKey.isEmpty ? nil : "\"\(accessKey)\"",
                """
                is not used with credentials = \"instance\": a registration has either an access key and stored \
                secret or the instance's role
                """,
                fix: "remove access_key to use the instance's role, or remove credentials to use the access key")
        }
    }

    /// Writes the settings that differ from the defaults into a registration table.
    func render(into table: inout [String: ConfigValue]) {
        if usesInstanceCredentials {
            table["credentials"] = .string(credentials.rawValue)
            table.removeValue(forKey: "access_key")
        }
        if let serverSideEncryption { table["server_side_encryption"] = .string(serverSideEncryption) }
        if let kmsKeyID { table["kms_key_id"] = .string(kmsKeyID) }
        if let storageClass { table["storage_class"] = .string(storageClass) }
    }

    // MARK: retention against the storage class's minimum storage duration

    /// A warning when retention would delete this registration's backups before its storage
    /// class's minimum storage duration: AWS bills an object deleted earlier as if kept that
    /// long, so each such backup costs days it is not kept. Nil when they fit, when nothing is
    /// pruned, and for migration schedules (how often those run is up to the deploys).
    public static func retentionWarning(
        _ registration: Registration, retention: Retention, file: String
    ) -> ConfigProblem? {
        guard case .s3(let target) = registration.provider, let storageClass = target.settings.storageClass,
            let minimumDays = StorageClass.known[storageClass], minimumDays > 0,
            let keep = retention.remote.keep,
            let shortest = registration.schedule.shortestSpanMinutes(ofRuns: keep)
        else { return nil }
        let minimumMinutes = minimumDays * 24 * 60
        guard shortest < minimumMinutes else { return nil }
        let days = Double(shortest) / 1440
        let kept = days >= 1 ? "\(Int(days.rounded(.down))) day(s)" : "\(shortest / 60) hour(s)"
        let needed = registration.schedule.runsWithin(minutes: minimumMinutes)
        return ConfigProblem(
            .warning, file: file, field: "storage_class", value: "\"\(storageClass)\"",
            message:
                "bills every object for at least \(minimumDays) days, but with retention.remote = \(keep) and this "
                + "schedule a backup can be deleted after \(kept): each is billed for days it is no longer kept",
            fix: "keep at least \(needed) remote backups (dbbackup retention set --remote \(needed)), "
                + "or use a class without a minimum (STANDARD, INTELLIGENT_TIERING)")
    }
}

/// AWS S3's storage classes and their minimum storage durations in days (an object deleted
/// sooner is billed for the rest): https://aws.amazon.com/s3/pricing/ and the S3 user guide.
public enum StorageClass {
    public static let known: [String: Int] = [
        "STANDARD": 0, "REDUCED_REDUNDANCY": 0, "INTELLIGENT_TIERING": 0, "EXPRESS_ONEZONE": 0,
        "STANDARD_IA": 30, "ONEZONE_IA": 30, "GLACIER_IR": 90, "GLACIER": 90, "DEEP_ARCHIVE": 180,
        "OUTPOSTS": 0, "SNOW": 0,
    ]

    /// Classes whose objects must be restored (unarchived) before they can be read.
    public static let archived: Set<String> = ["GLACIER", "DEEP_ARCHIVE"]
}

extension Schedule {
    /// The shortest time, in minutes, from one run to the `count`-th run after it: how young a
    /// backup can be when `count` newer ones push it out of retention. Worked out on a real
    /// calendar over four years (leap years and months without a 31st included), in the
    /// schedule's own clock; nil for migration schedules.
    func shortestSpanMinutes(ofRuns count: Int) -> Int? {
        let runs = runMinutes(days: 4 * 366)
        guard count > 0, runs.count > count else { return nil }
        return (0..<(runs.count - count)).map { runs[$0 + count] - runs[$0] }.min()
    }

    /// The most runs that fall within any span of `minutes` (so that many backups must be kept
    /// for none to go sooner); 1 for migration schedules.
    func runsWithin(minutes: Int) -> Int {
        let runs = runMinutes(days: 4 * 366)
        guard !runs.isEmpty else { return 1 }
        var most = 1
        var start = 0
        for end in runs.indices {
            while runs[end] - runs[start] >= minutes { start += 1 }
            most = max(most, end - start + 1)
        }
        return most
    }

    /// Minutes from 2027-01-01 00:00 of every run in the next `days` days.
    private func runMinutes(days: Int) -> [Int] {
        guard kind != .migration else { return [] }
        let clock = times.map { $0.hour * 60 + $0.minute }.sorted()
        var minutes: [Int] = []
        // 2027-01-01 was a Friday.
        var (year, month, day, weekday) = (2027, 1, 1, Weekday.fri)
        for index in 0..<days {
            let runs: Bool =
                switch kind {
                case .migration: false
                case .daily: true
                case .weekly: weekdays.contains(weekday)
                case .monthly: self.days.contains(day)
                }
            if runs { minutes += clock.map { index * 1440 + $0 } }
            day += 1
            if day > Self.daysIn(month: month, year: year) { (day, month) = (1, month + 1) }
            if month > 12 { (month, year) = (1, year + 1) }
            weekday = Weekday.allCases[(Weekday.allCases.firstIndex(of: weekday)! + 1) % 7]
        }
        return minutes
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension S3Names {
    /// Names no store accepts are errors; legacy names (old us-east-1 buckets with uppercase
    /// letters or '_') work, path-style only, and get a warning saying so.
    static func checkBucket(_ bucket: String, sink: ProblemSink) {
        if let problem = S3BucketName.problem(bucket) {
            sink.error(
                "bucket", "\"\(bucket)\"", problem,
                fix: "use the bucket's exact name: 3-63 lowercase letters, digits, '.' and '-'")
        } else if let modern = S3BucketName.modernProblem(bucket) {
            sink.warning(
                "bucket", "\"\(bucket)\"",
                "\(modern): a legacy bucket name (only us-east-1 buckets created before March 2018 have "
                    + "them); it cannot be part of a host name, so dbbackup addresses it path-style "
                    + "(https://s3.amazonaws.com/\(bucket)/…) "
                    + "whatever force_path_style says", fix: "nothing to do if the bucket exists under this exact name")
        }
    }
}

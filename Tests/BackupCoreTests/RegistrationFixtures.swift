import BackupCore

/// Registrations of every schedule kind across both providers, with what a writer or reader
/// could get wrong: two times a day, weekdays, days of the month, time zones, a path with
/// spaces and non-ASCII letters, an endpoint, path-style addressing.
enum RegistrationFixtures {
    /// The registrations, their relative paths resolved against `configDirectory`.
    static func everyKind(configDirectory: String) -> [Registration] {
        [
            Registration(
                name: "pre",
                provider: .filesystem(FilesystemTarget(path: "backups/pre", configDirectory: configDirectory)),
                schedule: .migration),
            Registration(
                name: "daily-1",
                provider: .filesystem(
                    FilesystemTarget(path: "/var/backups/app ü 日本", configDirectory: configDirectory)),
                schedule: Schedule(
                    kind: .daily, times: [TimeOfDay(hour: 2, minute: 0)!, TimeOfDay(hour: 14, minute: 30)!],
                    timezone: "Europe/Prague")),
            Registration(
                name: "weekly_s3",
                provider: .s3(
                    S3Target(
                        bucket: "app-backups", endpoint: "https://s3.us-west-004.backblazeb2.com",
                        region: "us-west-004", forcePathStyle: false, prefix: "app/", accessKey: "AKIA123")),
                schedule: Schedule(
                    kind: .weekly, times: [TimeOfDay(hour: 3, minute: 15)!], weekdays: [.mon, .thu],
                    timezone: "Europe/Prague")),
            Registration(
                name: "Monthly",
                provider: .s3(
                    S3Target(
                        bucket: "b-123", endpoint: "http://127.0.0.1:9000", forcePathStyle: true, accessKey: "minio")),
                schedule: Schedule(kind: .monthly, times: [TimeOfDay(hour: 23, minute: 59)!], days: [1, 15, 28])),
        ]
    }
}

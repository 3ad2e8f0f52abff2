// The dbbackup executable: everything it does is in DBBackupCLI (the verbs) and the libraries
// below it; this file only starts it, also as /usr/lib/systemd/system-generators/dbbackup-generator.
import DBBackupCLI

DBBackup.main()

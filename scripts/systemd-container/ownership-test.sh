#!/bin/bash
# The services' identity in a real systemd: a backup never takes the application's database
# away from it, and `config check` / `registration test` say OK only when the run works.
#
# The real binary, units, generator, sysusers and tmpfiles are installed as the package does. An
# application user writes to its database in each layout a sysadmin may have:
#   0640 in 0750 owned by the application user; 0660 with a shared group (setgid directory);
#   0600 owned by root; 0644 in 0755
# each with the application idle (no connection open: the backup is the first to open the
# database and creates its -wal/-shm) and with it writing during the backup. After every
# backup the application can still write as its own user, and the files beside the database
# have the owner, group and mode the application's own process gives them. Then: a missing
# backup directory, one under /home, `init` to another database, the checks' failures (a
# directory only root can write, a database the identity cannot reach, a database owner
# without a user entry, a configuration systemd has not read), the same layout with the
# static User=dbbackup (refused, nothing created), and what group dbbackup grants a deploy
# user (pre-migrate, and nothing else).
#   ownership-test.sh [BINARY]     prints "ownership: N passed, N failed"; non-zero on failure
# The container is named by $DBBACKUP_OWNERSHIP_CONTAINER (default: ownership).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${DBBACKUP_OWNERSHIP_CONTAINER:-ownership}
check_name "$name"

bin=$(test_binary "${1:-}") || exit 1

trap '"$here/stop.sh" "$name" >/dev/null 2>&1 || true' EXIT
"$here/boot.sh" "$name" || exit 1

# --- install as the package does
install_as_package "$bin"

# --- the people: the application (app), a second member of its shared group (web), a deploy
# script's user (deploy, group dbbackup), and someone else (other)
x sh -ec '
    groupadd -g 1500 app; useradd -m -s /bin/sh -u 1500 -g app app
    groupadd -g 1600 shared; usermod -aG shared app
    useradd -M -s /bin/sh -u 1501 -G shared web
    useradd -M -s /bin/sh -u 1502 -G dbbackup deploy
    useradd -M -s /bin/sh -u 1503 other'
# Runs a command as USER with the user's own groups, as the application's process would.
as() { local user=$1; shift; x setpriv --reuid="$user" --regid="$(x id -g "$user")" --init-groups "$@"; }
rows() { x sqlite3 "$1" 'select count(*) from t'; }
# owner:group mode of each -wal/-shm beside the database, e.g. "app:app 640 app:app 640"
side_files() { x sh -c 'for f in "$1-wal" "$1-shm"; do stat -c "%U:%G %a" "$f" 2>/dev/null || echo missing; done' _ "$1" | tr '\n' ' ' | sed 's/ $//'; }
backup() { x systemctl start "dbbackup@$1.service"; }
last_journal() { x journalctl -u "dbbackup@$1.service" -n 20 --no-pager -o cat | tr '\n' ' '; }

# A writer that keeps one connection open, as a long-running application does, in a unit of
# its own (as the application's user) so it is easy to stop.
start_writer() {   # DB USER
    x systemctl reset-failed app-writer.service >/dev/null 2>&1
    x rm -f /run/app-writer.stop
    x systemd-run --quiet --unit=app-writer -p User="$2" sh -c \
        "(echo '.timeout 10000'; while [ ! -e /run/app-writer.stop ]; do
            echo 'insert into t(x) values (randomblob(300));'; sleep 0.002; done) | sqlite3 '$1'"
}
# Stops it as an application stops: its input ends and sqlite3 closes the database (the last
# connection checkpoints and removes -wal and -shm). A SIGTERM would kill it, perhaps in the
# middle of a checkpoint, and removing -wal after that damages the database.
stop_writer() {
    x touch /run/app-writer.stop
    for _ in $(seq 100); do x systemctl is-active --quiet app-writer.service || break; sleep 0.1; done
    x systemctl stop app-writer.service >/dev/null 2>&1
}

# --- the four layouts
# layout NAME DIRECTORY_OWNER DIRECTORY_MODE DATABASE_OWNER DATABASE_MODE APP_USER EXPECTED_SIDE_FILES [SECOND_WRITER]
layout() {
    local l=$1 dirown=$2 dirmode=$3 dbown=$4 dbmode=$5 app=$6 expect=$7 second=${8:-}
    local dir=/srv/$l db=/srv/$l/app.db
    echo "--- layout $l: database $dbown $dbmode in $dirown $dirmode, written by $app"
    x install -d -o "${dirown%:*}" -g "${dirown#*:}" -m "$dirmode" "$dir"
    as "$app" sqlite3 "$db" "pragma journal_mode=wal; create table t(x);
        with recursive n(i) as (select 1 union all select i+1 from n where i < 20000) insert into t select randomblob(1000) from n;
        pragma user_version=5;" >/dev/null
    x chown "$dbown" "$db"; x chmod "$dbmode" "$db"; x rm -f "$db-wal" "$db-shm"
    check "$l: init --database $db" x dbbackup init --database "$db"
    check "$l: registration add (applied)" x dbbackup registration add "$l" --provider filesystem --path "/srv/backups/$l" --schedule daily --time 03:00
    check "$l: the drop-in runs the services as the database's owner ($dbown)" \
        x grep -qx "User=$(x id -u "${dbown%:*}")" /run/systemd/generator/dbbackup@.service.d/50-dbbackup.conf
    check "$l: the backup directory belongs to the services' identity" test "$(x stat -c %U "/srv/backups/$l")" = "${dbown%:*}"
    out=$(x dbbackup config check 2>&1); rc=$?
    check "$l: config check passes (rc $rc)" test $rc -eq 0
    check "$l: ...checked in a transient unit with the service's identity and sandbox" grep -q "access checked in a transient unit with the identity and sandbox of dbbackup@$l.service" <<<"$out"
    check "$l: registration test passes" x dbbackup registration test "$l"

    # Idle: nobody has the database open, so the backup's read connection creates -wal/-shm.
    check "$l idle: no -wal/-shm before the backup" test "$(side_files "$db")" = "missing missing"
    check "$l idle: the backup succeeds" backup "$l"
    check "$l idle: -wal/-shm are the application's ($expect): $(side_files "$db")" test "$(side_files "$db")" = "$expect"
    check "$l idle: $app can still write its database" as "$app" sqlite3 "$db" "insert into t(x) values (1)"
    [ -n "$second" ] && check "$l idle: $second (group member) can still write too" as "$second" sqlite3 "$db" "insert into t(x) values (2)"
    check "$l idle: the backup file belongs to the services' identity" \
        test "$(x sh -c "stat -c %U /srv/backups/$l/db_v5_*Z.db | sort -u")" = "${dbown%:*}"

    # Writing: the application holds a connection and commits during the backup.
    x rm -f "$db-wal" "$db-shm"
    start_writer "$db" "$app"
    local before after i
    for i in $(seq 100); do before=$(rows "$db"); [ "$before" -gt 20100 ] && break; sleep 0.05; done
    check "$l writing: the application is writing ($before rows)" test "$before" -gt 20100
    check "$l writing: the backup succeeds" backup "$l"
    sleep 0.2
    after=$(rows "$db")
    check "$l writing: the application kept writing during and after it ($before -> $after rows)" test "$after" -gt "$before"
    stop_writer
    check "$l writing: $app can still write its database" as "$app" sqlite3 "$db" "insert into t(x) values (3)"
    [ -n "$second" ] && check "$l writing: $second can still write too" as "$second" sqlite3 "$db" "insert into t(x) values (4)"
    # The writer closed last, so SQLite removed its files: open once more as the application
    # and look at what is beside the database while it holds it open.
    x sh -c "rm -f '$db-wal' '$db-shm'"
    start_writer "$db" "$app"; sleep 0.3
    local own; own=$(side_files "$db")
    check "$l writing: the application's own files ($own) are what the backup creates ($expect)" test "$own" = "$expect"
    check "$l writing: a backup while they exist" backup "$l"
    stop_writer
    check "$l: two backups stored" test "$(x sh -c "ls /srv/backups/$l | grep -c '^db_v5_'")" -ge 2
    x dbbackup registration remove "$l" >/dev/null 2>&1
}

layout l0640 app:app 0750 app:app 0640 app "app:app 640 app:app 640"
layout lshared app:shared 2770 app:shared 0660 app "app:shared 660 app:shared 660" web
layout lroot root:root 0700 root:root 0600 root "root:root 600 root:root 600"
layout l0644 app:app 0755 app:app 0644 app "app:app 644 app:app 644"

# --- the static User=dbbackup (what runs before the generator could look at the database):
# the backup refuses to create the application's files as dbbackup, and says why.
echo "--- the static identity"
db=/srv/l0640/app.db
x dbbackup init --database "$db" >/dev/null 2>&1
x dbbackup registration add static --provider filesystem --path /srv/backups/static --schedule daily --time 03:00 >/dev/null 2>&1
x chmod 0755 /srv/l0640; x chmod 0644 "$db"; x rm -f "$db-wal" "$db-shm"
x mkdir -p /run/systemd/system/dbbackup@static.service.d
x sh -c 'printf "[Service]\nUser=dbbackup\nGroup=dbbackup\n" > /run/systemd/system/dbbackup@static.service.d/zz-test.conf'
x systemctl daemon-reload
x chown dbbackup: /srv/backups/static
backup static; rc=$?
check "User=dbbackup: the run fails (rc $rc)" test $rc -ne 0
check "...with status 77/NOPERM" test "$(x systemctl show -P ExecMainStatus dbbackup@static.service)" = 77
check "...saying whose files they would be and the fix" grep -q "would belong to dbbackup (uid [0-9]*), not to the database.s owner.*dbbackup apply" <<<"$(last_journal static)"
check "...and nothing was created beside the database" test "$(side_files "$db")" = "missing missing"
x rm -rf /run/systemd/system/dbbackup@static.service.d; x systemctl daemon-reload; x systemctl reset-failed >/dev/null 2>&1
x chmod 0750 /srv/l0640; x chmod 0640 "$db"
x dbbackup registration remove static >/dev/null 2>&1

# --- a missing backup directory: the service creates it for its identity before the sandbox
echo "--- missing and /home directories"
x dbbackup registration add later --provider filesystem --path /srv/late/backups --schedule daily --time 03:00 >/dev/null 2>&1
x rm -rf /srv/late
out=$(x dbbackup config check 2>&1); rc=$?
check "missing directory: config check passes, with a warning (rc $rc)" \
    bash -c '[ "$1" = 0 ] && grep -q "does not exist yet; the service creates it owned by app (uid 1500) before its first run" <<<"$2"' _ "$rc" "$out"
check "missing directory: the first run works" backup later
check "...and the directory belongs to app, mode 0750" test "$(x stat -c '%U:%G %a' /srv/late/backups)" = "app:app 750"
x rm -rf /srv/late
check "missing directory: registration test creates it for app (never root:root)" x dbbackup registration test later
check "...owned by app" test "$(x stat -c '%U:%G %a' /srv/late/backups)" = "app:app 750"
x dbbackup registration remove later >/dev/null 2>&1

# --- a backup directory under /home (ProtectHome=): bound into the sandbox, it works
x dbbackup registration add homed --provider filesystem --path /home/app/backups --schedule daily --time 03:00 >/dev/null 2>&1
check "/home: the drop-in binds it (ProtectHome=tmpfs, BindPaths=)" \
    x grep -q '^BindPaths=-/home/app/backups$' /run/systemd/generator/dbbackup@.service.d/50-dbbackup.conf
check "/home: config check passes" x dbbackup config check
check "/home: registration test passes" x dbbackup registration test homed
check "/home: the run works" backup homed
check "/home: the backup is there, the application's home otherwise hidden from the service" x sh -c 'ls /home/app/backups/db_v5_*Z.db'
x dbbackup registration remove homed >/dev/null 2>&1
# ...and a database under /home
x install -d -o app -g app -m 0750 /home/app/data
as app sqlite3 /home/app/data/app.db "pragma journal_mode=wal; create table t(x); insert into t values (1); pragma user_version=6;" >/dev/null
x chmod 0640 /home/app/data/app.db
x dbbackup init --database /home/app/data/app.db >/dev/null 2>&1
x dbbackup registration add homedb --provider filesystem --path /srv/backups/homedb --schedule daily --time 03:00 >/dev/null 2>&1
check "/home database: config check passes" x dbbackup config check
check "/home database: the run works" backup homedb
check "/home database: its -wal/-shm are the application's: $(side_files /home/app/data/app.db)" test "$(side_files /home/app/data/app.db)" = "app:app 640 app:app 640"
check "/home database: app can still write it" as app sqlite3 /home/app/data/app.db "insert into t values (2)"
x dbbackup registration remove homedb >/dev/null 2>&1
x dbbackup init --database /srv/l0640/app.db >/dev/null 2>&1

# --- a backup directory of the former service user (before the services ran as the
# database's owner): handed over, with the backups in it, at the next start
x install -d -o dbbackup -g dbbackup -m 0750 /srv/backups/former
x sh -c 'echo old > /srv/backups/former/db_v1_20250101T000000Z.db; chown dbbackup:dbbackup /srv/backups/former/db_v1_20250101T000000Z.db; chmod 600 /srv/backups/former/db_v1_20250101T000000Z.db'
x sh -c 'printf "provider = \"filesystem\"\npath = \"/srv/backups/former\"\n[schedule]\ntype = \"daily\"\ntimes = [\"03:00\"]\n" > /etc/dbbackup/registrations.d/former.toml'
x systemctl daemon-reload
check "former service user's directory: the run works" backup former
check "...the directory and its old backup now belong to app" \
    test "$(x stat -c %U /srv/backups/former /srv/backups/former/db_v1_20250101T000000Z.db | tr '\n' ' ')" = "app app "
x dbbackup registration remove former >/dev/null 2>&1

# --- init to another database: the drop-in follows at once
echo "--- init to another database"
x install -d -o app -g app -m 0750 /srv/other
as app sqlite3 /srv/other/other.db "pragma journal_mode=wal; create table t(x); insert into t values (1); pragma user_version=9;" >/dev/null
x chmod 0640 /srv/other/other.db
x dbbackup registration add nightly --provider filesystem --path /srv/backups/nightly --schedule daily --time 03:00 >/dev/null 2>&1
check "nightly works on the first database" backup nightly
out=$(x dbbackup init --database /srv/other/other.db 2>&1)
check "init applied the change itself (its last line says so)" grep -q '^applied: ' <<<"$(tail -n 1 <<<"$out")"
check "the drop-in has the new database's directory" x grep -q -- '-/srv/other' /run/systemd/generator/dbbackup@.service.d/50-dbbackup.conf
check "the next run works (no 'does not exist')" backup nightly
check "...and backed up the new database (schema version 9)" x sh -c 'ls /srv/backups/nightly/db_v9_*Z.db'
check "...as the application, whose files they are: $(side_files /srv/other/other.db)" test "$(side_files /srv/other/other.db)" = "app:app 640 app:app 640"
check "app can still write the new database" as app sqlite3 /srv/other/other.db "insert into t values (2)"

# At boot the generator runs before local file systems are mounted: emulated by moving the
# database's directory away during a daemon-reload. The owner recorded when the configuration
# was last applied stands in, so the services still run as the application.
check "the database's owner is on record for the generator" x grep -q '^1500:1500 /srv/other/other.db$' /etc/dbbackup/service-identity
x sh -c 'mv /srv/other /srv/other.away && systemctl daemon-reload; mv /srv/other.away /srv/other'
check "generator without the database: the drop-in still runs the services as app (recorded)" \
    x grep -qx 'User=1500' /run/systemd/generator/dbbackup@.service.d/50-dbbackup.conf
x rm -f /srv/other/other.db-wal /srv/other/other.db-shm
check "...and the run works" backup nightly
check "...the files beside the database the application's: $(side_files /srv/other/other.db)" test "$(side_files /srv/other/other.db)" = "app:app 640 app:app 640"

# --- the checks fail where the run would
echo "--- checks that must fail"
x install -d -m 0755 /srv/rootonly
x dbbackup registration add rootonly --provider filesystem --path /srv/rootonly --schedule migration >/dev/null 2>&1
out=$(x dbbackup config check 2>&1); rc=$?
check "a directory only root can write: config check fails (rc $rc)" test $rc -eq 78
check "...naming the directory and the identity" grep -q 'registrations.d/rootonly.toml: path = "/srv/rootonly": /srv/rootonly is not writable by app (uid 1500)' <<<"$out"
out=$(x dbbackup registration test rootonly 2>&1); rc=$?
check "...registration test fails too (rc $rc)" test $rc -eq 73
check "...and so does the run" bash -c '! "$1/exec.sh" "$2" systemctl start dbbackup@rootonly.service' _ "$here" "$name"
x dbbackup registration remove rootonly >/dev/null 2>&1; x systemctl reset-failed >/dev/null 2>&1

# A registration file edited by hand, not applied: the check says what to run.
x sh -c "sed -i 's|/srv/backups/nightly|/srv/backups/nightly2|' /etc/dbbackup/registrations.d/nightly.toml"
out=$(x dbbackup config check 2>&1); rc=$?
check "not applied: config check fails (rc $rc)" test $rc -eq 78
check "...and says: run dbbackup apply" grep -q 'systemd still runs the units made from an earlier configuration.*run: dbbackup apply' <<<"$out"
check "after dbbackup apply, config check passes" bash -c '"$1/exec.sh" "$2" dbbackup apply >/dev/null && "$1/exec.sh" "$2" dbbackup config check >/dev/null' _ "$here" "$name"

# The database's directory is closed to the identity (root could read it).
x chmod 0700 /srv/other; x chown root:root /srv/other
x dbbackup apply >/dev/null 2>&1
out=$(x dbbackup config check 2>&1); rc=$?
check "a database the identity cannot reach: config check fails (rc $rc)" test $rc -eq 78
check "...saying permission denied, not 'does not exist'" \
    bash -c 'grep -q "database.path.*cannot be reached by root (uid 0)\|database.path.*cannot be reached by app (uid 1500)" <<<"$1" && ! grep -q "does not exist" <<<"$1"' _ "$out"
backup nightly; rc=$?
check "...and the run fails with status 77, saying why" \
    bash -c '[ "$1" != 0 ] && [ "$2" = 77 ] && ! grep -q "does not exist" <<<"$3"' _ "$rc" "$(x systemctl show -P ExecMainStatus dbbackup@nightly.service)" "$(last_journal nightly)"
x chown app:app /srv/other; x chmod 0750 /srv/other; x systemctl reset-failed >/dev/null 2>&1

# A database whose owner has no user entry: systemd cannot run a service as it.
x chown 1777:1777 /srv/other/other.db
x dbbackup apply >/dev/null 2>&1
out=$(x dbbackup config check 2>&1); rc=$?
check "a database owner without a user entry: config check fails (rc $rc)" test $rc -eq 78
check "...saying what to do" grep -q '217/USER.*useradd' <<<"$out"
x chown app:app /srv/other/other.db; x dbbackup apply >/dev/null 2>&1

# --- group dbbackup: a deploy user may ask for a pre-migration backup and read its result, nothing else
echo "--- group dbbackup"
x dbbackup registration add pre --provider filesystem --path /srv/backups/pre --schedule migration >/dev/null 2>&1
out=$(as deploy dbbackup pre-migrate --timeout 60s 2>&1); rc=$?
check "deploy (group dbbackup) can pre-migrate (rc $rc)" test $rc -eq 0
check "...and reads its result" grep -q 'pre: stored /srv/backups/pre/db_v9_' <<<"$out"
out=$(as other dbbackup pre-migrate --timeout 10s 2>&1); rc=$?
check "someone outside the group cannot (rc $rc)" bash -c '[ "$1" != 0 ] && grep -q "member of group dbbackup" <<<"$2"' _ "$rc" "$out"
check "deploy cannot read the registry" bash -c '! "$1/exec.sh" "$2" setpriv --reuid=deploy --regid=deploy --init-groups cat /var/lib/dbbackup/registry.db >/dev/null 2>&1' _ "$here" "$name"
check "...nor list the backups" bash -c '! "$1/exec.sh" "$2" setpriv --reuid=deploy --regid=deploy --init-groups dbbackup list >/dev/null 2>&1' _ "$here" "$name"
check "...nor read a backup directory" bash -c '! "$1/exec.sh" "$2" setpriv --reuid=deploy --regid=deploy --init-groups ls /srv/backups/pre >/dev/null 2>&1' _ "$here" "$name"
x sh -c 'touch /run/dbbackup/requests/0123456789abcdef01234567'   # someone else's request
denied() {   # what deploy must not be able to do
    local what=$1; shift
    if as deploy sh -c "$*" >/dev/null 2>&1; then bad "deploy cannot $what"; else ok "deploy cannot $what"; fi
}
denied "write in /var/lib/dbbackup" 'touch /var/lib/dbbackup/x'
denied "write in /etc/dbbackup" 'touch /etc/dbbackup/registrations.d/x.toml'
denied "write in a backup directory" 'touch /srv/backups/pre/x'
denied "write a result" 'touch /run/dbbackup/results/x.json'
denied "replace the latest result" 'echo "{}" > /run/dbbackup/migration-result.json'
denied "remove the latest result" 'rm -f /run/dbbackup/migration-result.json && test ! -e /run/dbbackup/migration-result.json'
denied "remove someone else's request" 'rm -f /run/dbbackup/requests/0123456789abcdef01234567 && test ! -e /run/dbbackup/requests/0123456789abcdef01234567'
denied "list the requests" 'ls /run/dbbackup/requests'
denied "list the results" 'ls /run/dbbackup/results'
x rm -f /run/dbbackup/requests/0123456789abcdef01234567
check "the fire-and-forget marker still works for deploy" as deploy touch /run/dbbackup/migration-request
check "...and the migration service consumes it" bash -c 'for i in $(seq 100); do "$1/exec.sh" "$2" test -e /run/dbbackup/migration-request || exit 0; sleep 0.1; done; exit 1' _ "$here" "$name"
echo "     /run/dbbackup: $(x stat -c '%U:%G %a' /run/dbbackup /run/dbbackup/requests /run/dbbackup/results | tr '\n' ' ')"

echo "ownership: $passed passed, $failed failed"
[ $failed -eq 0 ]

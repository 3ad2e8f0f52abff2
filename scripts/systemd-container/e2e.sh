#!/bin/bash
# End to end in a real systemd: the real dbbackup binary (release, static Swift stdlib), the
# units, the generator link, sysusers and tmpfiles are installed into a booted container as
# the package would; then a sysadmin's and a deploy script's steps are checked:
# list-timers and next elapses, a manual start, sd_notify STATUS, structured journal
# entries, pre-migrate (success, failure with OnFailure), the fire-and-forget marker,
# editing a schedule, status, and that the S3 secret appears nowhere.
#   e2e.sh [BINARY]      prints "e2e: N passed, N failed"; exit status non-zero on failure
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=e2e
wait_for() { local i; for i in $(seq 150); do x "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
secret='E2E-s3cr3t-Zq8vN2pL7xK4wR9m'

bin=$(test_binary "${1:-}") || exit 1
# The crash points of the reliability tests exist only in debug builds.
if grep -q DBBACKUP_TEST_CRASH_AT "$bin"; then bad "the release binary contains the test crash points"; else ok "the release binary has no test crash points"; fi

trap '"$here/stop.sh" "$name" >/dev/null 2>&1 || true' EXIT
"$here/boot.sh" "$name" || exit 1

# --- install as the package does
install_as_package "$bin"

# --- the application: a WAL database owned by app:app, group-readable/writable
x sh -ec '
    groupadd -g 1500 app; useradd -M -s /usr/sbin/nologin -u 1500 -g app app
    install -d -o app -g app -m 2770 /srv/app
    sqlite3 /srv/app/app.db "pragma journal_mode=wal; create table t(x); insert into t values (1); pragma user_version=12;" >/dev/null
    chown app:app /srv/app/app.db*; chmod 660 /srv/app/app.db*
    install -d -m 0755 /srv/readonly'

# --- configure with the CLI, as a sysadmin would
out=$(x dbbackup init --database /srv/app/app.db 2>&1); check "init" test $? -eq 0
out=$(x dbbackup registration add nightly --provider filesystem --path /srv/backups/nightly \
        --schedule daily --time 03:00 --timezone Europe/Prague 2>&1)
check "registration add nightly (applied at once)" test $? -eq 0
check "add created the backup directory for the services' identity (the database's owner)" test "$(x stat -c %U /srv/backups/nightly)" = app
check "registration test: the directory works" x dbbackup registration test nightly
# root can write a root-only directory; the service cannot, and the probe must say so
x sh -c 'install -d -m 0755 /srv/rootonly; dbbackup registration add rootonly --provider filesystem --path /srv/rootonly --schedule migration' >/dev/null 2>&1
probe=$(x dbbackup registration test rootonly 2>&1); rc=$?
check "registration test: a directory only root can write fails (rc $rc)" test "$rc" = 73
check "...naming the services' identity" grep -q 'FAIL write and remove a file: /srv/rootonly is not writable by app (uid 1500)' <<<"$probe"
x dbbackup registration remove rootonly >/dev/null 2>&1
x dbbackup registration add pre-deploy --provider filesystem --path /srv/backups/pre --schedule migration >/dev/null 2>&1
x sh -c "printf '%s\n' '$secret' | dbbackup registration add offsite --provider s3 --bucket app-backups \
        --endpoint http://127.0.0.1:9 --force-path-style --access-key AGENT --secret-key-stdin \
        --schedule weekly --time 04:00 --weekday sun" > /tmp/e2e-cli.$$ 2>&1

timers=$(x systemctl list-timers --all --no-pager --plain)
check "list-timers shows dbbackup@nightly.timer" grep -q 'dbbackup@nightly.timer' <<<"$timers"
check "list-timers shows dbbackup@offsite.timer" grep -q 'dbbackup@offsite.timer' <<<"$timers"
check "no timer for the migration registration" bash -c '! grep -q "dbbackup@pre" <<<"$1"' _ "$timers"
next=$(x systemctl show -P NextElapseUSecRealtime dbbackup@nightly.timer)
expected=$(x systemd-analyze calendar '*-*-* 03:00:00 Europe/Prague' | sed -n 's/^ *Next elapse: //p')
check "next elapse is 03:00 Prague ($next = $expected)" test -n "$next" -a "$next" = "$expected"

# --- a manual start makes a backup, with STATUS= during the run and journal fields
x sh -c 'sqlite3 /srv/app/app.db "create table big(x); insert into big select randomblob(1000) from generate_series(1, 60000);" 2>/dev/null ||
         sqlite3 /srv/app/app.db "create table big(x); with recursive n(i) as (select 1 union all select i+1 from n where i < 60000) insert into big select randomblob(1000) from n;"'
x sh -c 'rm -f /tmp/status; (for i in $(seq 400); do systemctl show -P StatusText dbbackup@nightly.service >> /tmp/status; sleep 0.005; done) &
         systemctl start dbbackup@nightly.service; echo $? > /tmp/start-rc; wait'
check "systemctl start dbbackup@nightly.service succeeds" test "$(x cat /tmp/start-rc)" = 0
check "a backup file db_v12_* exists" x sh -c 'ls /srv/backups/nightly/db_v12_*Z.db'
check "StatusText was set during the run" x grep -q 'nightly: ' /tmp/status
x grep -v '^$' /tmp/status | sort -u | head -5 | sed 's/^/     status: /'
check "...and says how the run ended, once it has ('$(x systemctl show -P StatusText dbbackup@nightly.service)')" \
    wait_for sh -c 'test "$(systemctl show -P StatusText dbbackup@nightly.service)" = "done: nightly stored"'
# The sandboxed run records the boot clock with the boot as systemd (and a root shell) sees it,
# or status --check could not tell its age after the wall clock was stepped.
boot=$(x cat /proc/sys/kernel/random/boot_id | tr -d -- '-\n')
recorded=$(x sqlite3 /var/lib/dbbackup/registry.db \
    "select boot_id || '|' || (boot_ms > 0) from backups where state = 'stored' order by sequence desc limit 1")
check "the run recorded this boot and its boot clock ('$recorded', boot $boot)" test "$recorded" = "$boot|1"
x journalctl --sync
entry=$(x journalctl -o json --no-pager -u dbbackup@nightly.service DBBACKUP_OUTCOME=stored)
check "journal entry with the structured fields" python3 -c '
import json, sys
e = json.loads(sys.argv[1].splitlines()[-1])
need = ["DBBACKUP_REGISTRATION", "DBBACKUP_FILE", "DBBACKUP_SIZE", "DBBACKUP_SHA256", "DBBACKUP_VERSION", "DBBACKUP_DURATION_MS", "DBBACKUP_OUTCOME", "MESSAGE_ID"]
missing = [k for k in need if k not in e]
assert not missing, missing
assert e["DBBACKUP_REGISTRATION"] == "nightly" and e["DBBACKUP_VERSION"] == "12" and len(e["DBBACKUP_SHA256"]) == 64, e
assert e["MESSAGE_ID"] == "5b7f2c1e9a8d4f03b6e1d2c3a4f5e6b7", e["MESSAGE_ID"]
' "$entry"
check "the idle database was copied as a file, under the unit's system call filter" \
    x sh -c 'journalctl -o json --no-pager -u dbbackup@nightly.service "DBBACKUP_SNAPSHOT=file copy" | grep -q DBBACKUP_REGISTRATION'
check "the backup runs as the database's owner, app" test "$(x stat -c %U "$(x sh -c 'ls /srv/backups/nightly/db_v12_*Z.db | head -1')")" = app

# --- deploy scripts: pre-migrate waits for the migration service
out=$(x dbbackup pre-migrate --timeout 60s 2>&1); rc=$?
check "pre-migrate exits 0" test $rc -eq 0
check "pre-migrate prints what was backed up" grep -q 'pre-deploy: stored /srv/backups/pre/db_v12_' <<<"$out"
check "the migration backup is in the registry" x sh -c 'dbbackup list pre-deploy --json | grep -q "\"trigger\" : \"migration\""'
check "the marker is consumed" test ! -e "/proc/$(container_init $name)/root/run/dbbackup/migration-request"

# --- fire and forget: touching the marker by hand
before=$(x sh -c 'ls /srv/backups/pre | wc -l')
x touch /run/dbbackup/migration-request
check "touching the marker makes a migration backup" wait_for sh -c "[ \$(ls /srv/backups/pre | wc -l) -gt $before ]"

# --- a failing migration registration fails pre-migrate and fires OnFailure
x dbbackup registration add broken --provider filesystem --path /srv/readonly --schedule migration >/dev/null 2>&1
out=$(x dbbackup pre-migrate --timeout 60s 2>&1); rc=$?
check "pre-migrate fails when a migration registration fails (rc $rc)" test $rc -ne 0
check "pre-migrate names the failed registration" grep -q 'broken' <<<"$out"
check "the migration service is failed" test "$(x systemctl is-failed dbbackup-migration.service)" = failed
check "OnFailure wrote its record to the journal" wait_for sh -c \
    'journalctl -o json -u "dbbackup-failure@dbbackup-migration.service.service" | grep -q "2d4f6a8c0e1b4d3f5a7c9e1b3d5f7a92"'
x dbbackup registration remove broken >/dev/null 2>&1
x systemctl reset-failed dbbackup-migration.service
out=$(x dbbackup pre-migrate --timeout 60s 2>&1)
check "after removing it, pre-migrate succeeds again" test $? -eq 0

# --- editing the schedule changes list-timers at once
x dbbackup registration edit nightly --time 05:30 >/dev/null 2>&1
next=$(x systemctl show -P NextElapseUSecRealtime dbbackup@nightly.timer)
expected=$(x systemd-analyze calendar '*-*-* 05:30:00 Europe/Prague' | sed -n 's/^ *Next elapse: //p')
check "edited schedule: next elapse is 05:30 Prague ($next)" test -n "$next" -a "$next" = "$expected"

# --- status
status=$(x dbbackup status --json)
check "status --json: next run and last success of nightly" python3 -c '
import json, sys
rows = {r["name"]: r for r in json.loads(sys.argv[1])}
n = rows["nightly"]
assert n["next_run"] and n["last_success"] and n["backups_kept"] == 1, n
assert rows["pre-deploy"]["timer"] is None and rows["pre-deploy"]["backups_kept"] >= 2, rows["pre-deploy"]
' "$status"

# --- removing a registration removes its timer, and the timer's last-run stamp (or a new
# registration of the name would start a Persistent= catch-up run at once)
x sh -c 'mkdir -p /var/lib/systemd/timers; touch -d 2026-01-01 /var/lib/systemd/timers/stamp-dbbackup@offsite.timer'
x dbbackup registration remove offsite >> /tmp/e2e-cli.$$ 2>&1
check "removed registration's timer is gone" bash -c '! grep -q "dbbackup@offsite" <<<"$1"' _ "$(x systemctl list-timers --all --no-pager --plain)"
check "...and so is its last-run stamp" x test ! -e /var/lib/systemd/timers/stamp-dbbackup@offsite.timer

# --- the secret appears nowhere: units, systemctl show, the journal, CLI output
x sh -c "printf '%s\n' '$secret' | dbbackup registration add offsite --provider s3 --bucket app-backups \
        --endpoint http://127.0.0.1:9 --force-path-style --access-key AGENT --secret-key-stdin --schedule migration" >> /tmp/e2e-cli.$$ 2>&1
# While the run retries its unreachable store, look at the running service from outside:
# its command line and environment must not carry the secret (only the credential file may).
x systemctl start --no-block dbbackup@offsite.service
# MainPID is known from the fork on, but until the exec that process is still systemd's
# executor, with its own environment: wait until it runs dbbackup itself.
pid=""
for _ in $(seq 100); do
    pid=$(x systemctl show -P MainPID dbbackup@offsite.service)
    if [ -n "$pid" ] && [ "$pid" != 0 ] \
        && x sh -c "tr '\\0' ' ' < /proc/$pid/cmdline" 2>/dev/null | grep -q '^/usr/bin/dbbackup run '; then
        break
    fi
    pid=""
    sleep 0.05
done
check "the S3 run is running (pid $pid)" test -n "$pid"
proc=$(x sh -c "tr '\\0' '\\n' < /proc/$pid/cmdline; tr '\\0' '\\n' < /proc/$pid/environ" 2>&1)
check "the running service's command line and environment hold no secret" bash -c '! grep -q -- "$1" <<<"$2"' _ "$secret" "$proc"
if grep -q '^CREDENTIALS_DIRECTORY=' <<<"$proc"; then ok "...but it has its credentials directory"
else bad "...but it has its credentials directory (names in its environment: $(sed -n 's/^\([A-Z_]*\)=.*/\1/p' <<<"$proc" | tr '\n' ' '))"
fi
x systemctl stop dbbackup@offsite.service >/dev/null 2>&1
x dbbackup registration show offsite --json >> /tmp/e2e-cli.$$ 2>&1
x dbbackup config export >> /tmp/e2e-cli.$$ 2>&1
x journalctl --sync
leaks=$(x sh -c "grep -rl -- '$secret' /run/systemd/generator /etc/systemd /usr/lib/systemd/system 2>/dev/null;
                 for u in \$(systemctl list-units --all --plain --no-legend 'dbbackup*' | awk '{print \$1}'); do systemctl show \$u; done | grep -c -- '$secret';
                 journalctl -o json --no-pager | grep -c -- '$secret'" | tr '\n' ' ')
check "secret in no unit file, no systemctl show, no journal entry (found: $leaks)" test "$leaks" = "0 0 "
check "secret in no CLI output" bash -c '! grep -q -- "$1" "$2"' _ "$secret" /tmp/e2e-cli.$$
check "masked secret shown instead" grep -q 'E2E-\*\*\*\*' /tmp/e2e-cli.$$
rm -f /tmp/e2e-cli.$$

echo "e2e: $passed passed, $failed failed"
[ $failed -eq 0 ]

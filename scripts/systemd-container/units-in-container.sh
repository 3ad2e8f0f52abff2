#!/bin/bash
# Proves the static units in a real systemd: installs them (with sysusers/tmpfiles and
# the generator-shaped fixtures) into a booted container with a stand-in
# /usr/bin/dbbackup, then checks the hardened service's access (database via group,
# backup dir, nothing else, credential or placeholder), timers under dbbackup.target,
# the migration path trigger, OnFailure, and the apply cycle (stop/start target).
#   units-in-container.sh [NAME]    prints "units-in-container: N passed, N failed"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${1:-units}
units=$(cd "$here/../../systemd" && pwd)
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
x() { "$here/exec.sh" "$name" "$@"; }
put() { "$here/put.sh" "$name" "$@"; }
# Poll (bounded) until a command inside succeeds.
wait_for() { local i; for i in $(seq 100); do x "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
has_line() { x cat "$1" 2>/dev/null | grep -qx -- "$2"; }

trap '"$here/stop.sh" "$name" >/dev/null 2>&1 || true' EXIT
"$here/boot.sh" "$name" || exit 1

# Install like the package would.
for f in "$units"/*.service "$units"/*.timer "$units"/*.path "$units"/*.target; do
    put "$f" "/usr/lib/systemd/system/${f##*/}"
done
put "$units/sysusers.d/dbbackup.conf" /usr/lib/sysusers.d/dbbackup.conf
put "$units/tmpfiles.d/dbbackup.conf" /usr/lib/tmpfiles.d/dbbackup.conf
put "$here/fixtures/stand-in/dbbackup" /usr/bin/dbbackup 0755
x systemd-sysusers
x systemd-tmpfiles --create /usr/lib/tmpfiles.d/dbbackup.conf
# The application: database owned by app:app (GID 1500), group-writable for WAL files.
x sh -ec '
    groupadd -g 1500 app; useradd -r -u 1500 -g app app
    install -d -o app -g app -m 2770 /srv/app
    sqlite3 /srv/app/app.db "pragma journal_mode=wal; create table t(x); insert into t values (1);" >/dev/null
    chown app:app /srv/app/app.db*; chmod 660 /srv/app/app.db*
    install -d -o dbbackup -g dbbackup -m 0750 /srv/backups/example /srv/backups/offsite
    umask 077; printf s3cr3t > /etc/dbbackup/secrets/offsite.secret; printf premigsecret > /etc/dbbackup/secrets/premig.secret
'
# What the generator would write, then what `dbbackup apply` and the package do.
for d in "$here"/fixtures/generated/*.d; do
    for f in "$d"/*; do put "$f" "/etc/systemd/system/${d##*/}/${f##*/}"; done
done
x sh -ec 'mkdir -p /etc/systemd/system/dbbackup.target.wants
          for t in example offsite; do ln -sf /usr/lib/systemd/system/dbbackup@.timer /etc/systemd/system/dbbackup.target.wants/dbbackup@$t.timer; done'
x systemctl daemon-reload
x systemctl enable --quiet dbbackup.target
x systemctl start dbbackup.target

timers=$(x systemctl list-timers --all --no-pager --plain)
check "dbbackup@example.timer listed" grep -q 'dbbackup@example.timer' <<<"$timers"
check "dbbackup@offsite.timer listed" grep -q 'dbbackup@offsite.timer' <<<"$timers"
check "example timer activates its service" test "$(x systemctl show -P Triggers dbbackup@example.timer)" = dbbackup@example.service
check "dbbackup-migration.path active" test "$(x systemctl is-active dbbackup-migration.path)" = active

# A filesystem registration under the sandbox.
x systemctl start dbbackup@example.service
r=/var/lib/dbbackup/run-example
# PrivateUsers=yes: the supplementary group 1500 is unmapped inside (shown as 65534)
# but still grants access, which "database readable via group" proves.
check "example: runs as dbbackup" x sh -c "grep -q '^uid=[0-9]* user=dbbackup groups=[0-9]* [0-9]*\$' $r"
check "example: placeholder credential" has_line $r 'secret=<no-secret-file>'
check "example: database readable via group" has_line $r db=readable
check "example: backup dir writable" has_line $r backupdir=writable
check "example: rest of the system read-only" has_line $r elsewhere=readonly
check "example: secret files unreadable" has_line $r secretfile=unreadable
check "example: StateDirectory/RuntimeDirectory" has_line $r "state=/var/lib/dbbackup runtime=/run/dbbackup"

# An s3 registration: its secret file as credential; no generator access drop-in.
x systemctl start dbbackup@offsite.service
r=/var/lib/dbbackup/run-offsite
check "offsite: secret arrives as credential" has_line $r secret=s3cr3t
check "offsite: no database access without the drop-in" has_line $r db=unreadable

# The migration marker triggers the migration service, which consumes it.
x touch /run/dbbackup/migration-request
check "migration: result written" wait_for test -e /run/dbbackup/migration-result
check "migration: marker consumed" wait_for test ! -e /run/dbbackup/migration-request
check "migration: per-registration credential" has_line /var/lib/dbbackup/migration-run migration-secret=premigsecret
check "migration: journal shows the run" x sh -c 'journalctl -u dbbackup-migration.service -o cat | grep -q "migration backup done"'

# A failing run fires the failure unit: a journal record at err and notify-failure.
x systemctl start dbbackup@broken.service 2>/dev/null
check "failure: service failed" test "$(x systemctl is-failed dbbackup@broken.service)" = failed
check "failure: notify-failure ran" wait_for test -e /var/lib/dbbackup-notified-dbbackup@broken.service
check "failure: err record in the journal" wait_for sh -c \
    'journalctl -p err -u dbbackup-failure@dbbackup@broken.service.service -o cat | grep -q "dbbackup: dbbackup@broken.service failed"'

# Apply after removing a registration: stop+start of the target drops its timer.
x rm -rf /etc/systemd/system/dbbackup.target.wants/dbbackup@offsite.timer /etc/systemd/system/dbbackup@offsite.timer.d
x systemctl daemon-reload
x systemctl stop dbbackup.target
x systemctl start dbbackup.target
timers=$(x systemctl list-timers --all --no-pager --plain)
check "apply: removed registration's timer gone" bash -c '! grep -q "dbbackup@offsite.timer" <<<"$1"' _ "$timers"
check "apply: remaining timer back" grep -q 'dbbackup@example.timer' <<<"$timers"
check "apply: path unit back" test "$(x systemctl is-active dbbackup-migration.path)" = active

echo "units-in-container: $passed passed, $failed failed"
[ $failed -eq 0 ]

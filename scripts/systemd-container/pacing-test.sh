#!/bin/bash
# Pacing in a real systemd (issue 18 §1): the services' I/O settings as systemd 252 takes them
# on this host, and the writeback controller's signals from inside the services' sandbox.
#   - IOWeight= is accepted, and where it lands on this cgroup hierarchy (printed: it depends
#     on the host; on a hybrid one systemd writes blkio.bfq.weight, which only BFQ reads);
#   - IODeviceLatencyTargetSec= is accepted by this systemd (checked on a transient unit, as
#     the README tells sysadmins to put it on the application's own service);
#   - a backup while the application writes a WAL database paces by its commits (the WAL
#     index is readable in the sandbox), completes, and is consistent;
#   - the same for a rollback-journal database, which has no WAL index: the kernel's I/O
#     pressure is read in the sandbox (ProcSubset=pid hides /proc/pressure; the cgroup root's
#     io.pressure stays), where the kernel has PSI.
#   pacing-test.sh [BINARY]    prints "pacing-test: N passed, N failed"; container perf1
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${DBBACKUP_PACING_CONTAINER:-perf1}

bin=$(test_binary "${1:-}") || exit 1

trap '"$here/stop.sh" "$name" >/dev/null 2>&1 || true' EXIT
"$here/boot.sh" "$name" || exit 1

# --- install as the package does, without starting dbbackup.target
install_units "$bin"

# --- systemd 252 and the I/O settings
check "IOWeight=10 is taken by dbbackup@.service" test "$(x systemctl show -P IOWeight dbbackup@paced.service)" = 10
check "IOWeight=10 is taken by dbbackup-migration.service" test "$(x systemctl show -P IOWeight dbbackup-migration.service)" = 10
x journalctl --sync
check "no complaint about the units' settings in the journal" \
    bash -c '! grep -Ei "unknown (key|lvalue)|failed to parse" <<<"$1"' _ "$(x journalctl -b --no-pager -o cat)"
latency=$(x systemd-run --wait --pipe --collect -p IODeviceLatencyTargetSec="/ 25ms" -p IOWeight=500 true 2>&1); rc=$?
check "IODeviceLatencyTargetSec= (for the application's own service) is accepted by this systemd (rc $rc: $latency)" test "$rc" = 0

# --- the application: a WAL database owned by app, and one in rollback-journal mode
x sh -ec '
    groupadd -g 1500 app; useradd -M -s /usr/sbin/nologin -u 1500 -g app app
    install -d -o app -g app -m 0750 /srv/app /srv/journal
    sqlite3 /srv/app/app.db "pragma journal_mode=wal; create table t(x); with recursive n(i) as (select 1 union all select i+1 from n where i < 12000) insert into t select randomblob(1000) from n;" >/dev/null
    sqlite3 /srv/journal/app.db "pragma journal_mode=delete; create table t(x); with recursive n(i) as (select 1 union all select i+1 from n where i < 12000) insert into t select randomblob(1000) from n;" >/dev/null
    chown app:app /srv/app/app.db* /srv/journal/app.db'
# A low ceiling, so that the backups take seconds and the controller decides several times.
configure() {   # DATABASE
    x dbbackup init --database "$1" >/dev/null 2>&1
    x sh -c 'grep -q "^pace_mib_per_second" /etc/dbbackup/dbbackup.toml ||
             { printf "pace_mib_per_second = 8\n" > /tmp/pace; sed -i "/^\[database\]/r /tmp/pace" /etc/dbbackup/dbbackup.toml; }'
    x dbbackup registration add paced --provider filesystem --path /srv/backups/paced --schedule migration >/dev/null 2>&1
    x dbbackup apply >/dev/null 2>&1
}
start_writer() {   # DB
    x systemctl reset-failed app-writer.service >/dev/null 2>&1
    x systemd-run --quiet --unit=app-writer -p User=app sh -c \
        "(echo '.timeout 30000'; while :; do echo 'insert into t(x) values (randomblob(300));'; sleep 0.002; done) | sqlite3 '$1'"
}
stop_writer() { x systemctl stop app-writer.service >/dev/null 2>&1; }
# The cgroup files IOWeight= became, read while the service runs.
weights() {
    local cg
    for _ in $(seq 100); do
        cg=$(x systemctl show -P ControlGroup dbbackup@paced.service)
        [ -n "$cg" ] && break
        sleep 0.05
    done
    [ -n "$cg" ] || { echo "the service ended before its cgroup could be read"; return; }
    x sh -c 'found=
             for f in /sys/fs/cgroup/io.weight /sys/fs/cgroup/unified/io.weight /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/blkio/blkio.weight; do
                 dir=${f%/*}; file=$dir$1/${f##*/}
                 [ -r "$file" ] && { echo "${file#/sys/fs/cgroup/}: $(tr "\n" " " < "$file")"; found=1; }
             done
             [ -n "$found" ] || echo "no io.weight, blkio.bfq.weight or blkio.weight for $1: nothing shares this disk by weight here"
             cat /sys/block/*/queue/scheduler 2>/dev/null | sort -u | sed "s/^/scheduler: /"' _ "$cg"
}
x systemctl set-environment DBBACKUP_LOG_LEVEL=debug

# --- WAL: paced by the application's commits
configure /srv/app/app.db
start_writer /srv/app/app.db
sleep 1
x systemctl start --no-block dbbackup@paced.service
where=$(weights)
echo "     IOWeight=10 while the backup runs, on this host:"; sed "s/^/       /" <<<"$where"
# A oneshot run is "activating" while it runs (is-active says no): wait for it to leave that.
for _ in $(seq 1200); do
    case $(x systemctl show -P ActiveState dbbackup@paced.service) in activating|active|deactivating|reloading) sleep 0.1 ;; *) break ;; esac
done
stop_writer
# Result is "success" while it still runs too: it must have ended.
check "WAL: the backup completed while the application wrote" \
    bash -c '[ "$1" = success ] && [ "$2" = inactive ]' _ "$(x systemctl show -P Result dbbackup@paced.service)" "$(x systemctl show -P ActiveState dbbackup@paced.service)"
log=$(x journalctl -u dbbackup@paced.service --no-pager -o cat)
check "WAL: it paced by the application's commits (the WAL index, read in the sandbox)" grep -q 'pacing: the application kept [0-9]*% of its commits (commits)' <<<"$log"
{ grep 'pacing:' <<<"$log" || tail -n 15 <<<"$log"; } | head -n 15 | sed 's/^/     /'
copy=$(x sh -c 'ls /srv/backups/paced/*.db | head -n 1')
check "WAL: the backup is consistent ($copy)" test -n "$copy" -a "$(x sqlite3 "$copy" 'pragma integrity_check')" = ok

# --- rollback journal: no WAL index; the kernel's I/O pressure, where there is PSI
x sh -c 'rm -f /srv/backups/paced/*.db'
configure /srv/journal/app.db
x systemctl reset-failed dbbackup@paced.service >/dev/null 2>&1
journal_start=$(x date +%s)
start_writer /srv/journal/app.db
sleep 1
x systemctl start dbbackup@paced.service
stop_writer
# Result is "success" while it still runs too: it must have ended.
check "journal mode: the backup completed while the application wrote" \
    bash -c '[ "$1" = success ] && [ "$2" = inactive ]' _ "$(x systemctl show -P Result dbbackup@paced.service)" "$(x systemctl show -P ActiveState dbbackup@paced.service)"
log=$(x journalctl -u dbbackup@paced.service --no-pager -o cat --since=@"$journal_start" | grep 'pacing:')
if x test -r /sys/fs/cgroup/unified/io.pressure -o -r /sys/fs/cgroup/io.pressure; then
    check "journal mode: it paced by the kernel's I/O pressure (the cgroup root's io.pressure, read in the sandbox)" \
        grep -q '(I/O pressure)' <<<"$log"
else
    check "journal mode: no PSI on this kernel: the ceiling while the files change" bash -c '! grep -q "(I/O pressure)" <<<"$1"' _ "$log"
fi
head -n 3 <<<"$log" | sed 's/^/     /'
copy=$(x sh -c 'ls /srv/backups/paced/*.db | head -n 1')
check "journal mode: the backup is consistent ($copy)" test -n "$copy" -a "$(x sqlite3 "$copy" 'pragma integrity_check')" = ok

echo "pacing-test: $passed passed, $failed failed"
[ "$failed" = 0 ]

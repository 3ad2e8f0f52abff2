#!/bin/bash
# Proves the harness: boot, system state, a timer installed and started, stop.
#   smoke.sh [NAME]      exit 0 and "smoke: 1 passed, 0 failed" on success
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${1:-smoke}
trap '"$here/stop.sh" "$name" >/dev/null 2>&1 || true' EXIT

"$here/boot.sh" "$name"
state=$("$here/exec.sh" "$name" systemctl is-system-running || true)
case $state in running|degraded) ;; *) die "system state '$state'";; esac

tmp=$(mktemp -d); trap 'rm -rf "$tmp"; "$here/stop.sh" "$name" >/dev/null 2>&1 || true' EXIT
cat > "$tmp/smoke.service" <<'UNIT'
[Unit]
Description=harness smoke service
[Service]
Type=oneshot
ExecStart=/bin/touch /run/smoke-ran
UNIT
cat > "$tmp/smoke.timer" <<'UNIT'
[Unit]
Description=harness smoke timer
[Timer]
OnCalendar=Mon,Thu *-*-* 03:00:00 Europe/Prague
Persistent=true
UNIT
"$here/put.sh" "$name" "$tmp/smoke.service" /etc/systemd/system/smoke.service
"$here/put.sh" "$name" "$tmp/smoke.timer" /etc/systemd/system/smoke.timer
"$here/exec.sh" "$name" systemctl daemon-reload
"$here/exec.sh" "$name" systemctl start smoke.timer
"$here/exec.sh" "$name" systemctl list-timers --all --no-pager | tee "$tmp/timers" >&2
grep -q 'smoke.timer' "$tmp/timers" || die "smoke.timer not listed"
next=$("$here/exec.sh" "$name" systemctl show -P NextElapseUSecRealtime smoke.timer)
[ -n "$next" ] || die "smoke.timer has no next elapse"
"$here/exec.sh" "$name" systemctl start smoke.service
"$here/exec.sh" "$name" test -e /run/smoke-ran || die "smoke.service did not run"

"$here/stop.sh" "$name"
[ ! -d "/sys/fs/cgroup/unified/dbbackup-test-$name" ] || die "cgroup left behind"
echo "smoke: 1 passed, 0 failed"

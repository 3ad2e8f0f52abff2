#!/bin/bash
# Halt a container booted by boot.sh and remove its cgroups and state. Idempotent.
#   stop.sh NAME [--timeout SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root

[ $# -ge 1 ] || die "usage: stop.sh NAME [--timeout SECONDS]"
name=$1; shift
check_name "$name"
wait_s=20
[ "${1:-}" = --timeout ] && { [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs seconds"; wait_s=$2; }

state=$(state_dir "$name")
cg="dbbackup-test-$name"

# SIGTERM makes nspawn ask the container's systemd to halt (about 1.5 s).
if npid=$(nspawn_pid "$name"); then
    kill -TERM "$npid" 2>/dev/null || true
    for _ in $(seq $(( wait_s * 10 ))); do
        kill -0 "$npid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$npid" 2>/dev/null; then
        log "nspawn $npid did not exit in ${wait_s}s; killing"
        kill -KILL "$npid" 2>/dev/null || true
    fi
fi

# Whatever is left in our cgroups (normally nothing) is killed, then the cgroup trees
# (the container's systemd creates sub-cgroups) are removed deepest first.
for h in unified systemd; do
    root="/sys/fs/cgroup/$h/$cg"
    [ -d "$root" ] || continue
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
        [ -z "$pids" ] && break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.2
    done
    find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$root" ] && log "warning: could not remove $root"
done

rm -rf "$state"
log "container $name stopped"

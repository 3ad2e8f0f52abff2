#!/bin/bash
# Boot a real systemd in a systemd-nspawn container from the cached rootfs.
#   boot.sh NAME [--bind HOSTDIR:CONTAINERDIR ...] [--timeout SECONDS]
# A container of that NAME that is already running is stopped first, so every boot
# starts from the pristine rootfs (--volatile=overlay: writes go to a tmpfs).
# State (pids, nspawn log) lives in /run/dbbackup-test/NAME/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root

[ $# -ge 1 ] || die "usage: boot.sh NAME [--bind HOSTDIR:CONTAINERDIR ...] [--timeout SECONDS]"
name=$1; shift
check_name "$name"
binds=(); wait_s=60
while [ $# -gt 0 ]; do
    case $1 in
        --bind) [ $# -ge 2 ] || die "--bind needs HOSTDIR:CONTAINERDIR"
                [[ $2 == /*:/* ]] || die "--bind wants absolute HOSTDIR:CONTAINERDIR, got '$2'"
                [ -e "${2%%:*}" ] || die "bind source ${2%%:*} does not exist"
                binds+=("--bind=$2"); shift 2 ;;
        --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs seconds"; wait_s=$2; shift 2 ;;
        *) die "unknown argument '$1'" ;;
    esac
done

rootfs=$("$here/rootfs.sh")
"$here/stop.sh" "$name" >/dev/null

state=$(state_dir "$name")
mkdir -p "$state" /run/systemd/nspawn
cg="dbbackup-test-$name"
echo "$cg" > "$state/cgroup"

start_ns=$(date +%s%N)
# The launcher moves itself into its own cgroups (nspawn with --keep-unit uses the
# caller's cgroup), gets a private mount namespace with a tmpfs on /run/systemd/nspawn
# (nspawn insists on it and /run here is not a tmpfs), records its pid and becomes nspawn.
# setsid + no stdin: detached from the caller's terminal and session.
launcher='
set -e
state=$1 cg=$2; shift 2
for h in unified systemd; do
    mkdir -p "/sys/fs/cgroup/$h/$cg"
    echo $$ > "/sys/fs/cgroup/$h/$cg/cgroup.procs"
done
mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
echo $$ > "$state/nspawn.pid"
exec "$@"
'
setsid unshare --mount --propagation private \
    bash -c "$launcher" launcher "$state" "$cg" \
    systemd-nspawn -D "$rootfs" --machine="$name" --boot \
        --register=no --keep-unit --volatile=overlay \
        --console=read-only --link-journal=no \
        "${binds[@]}" \
    </dev/null >"$state/nspawn.log" 2>&1 &

deadline=$(( $(date +%s) + wait_s ))
fail() {
    log "$*"; log "last lines of $state/nspawn.log:"; tail -n 20 "$state/nspawn.log" >&2 || true
    "$here/stop.sh" "$name" >/dev/null 2>&1 || true
    exit 1
}

# 1. nspawn up and its container PID 1 visible.
init=
while :; do
    if npid=$(nspawn_pid "$name") && init=$(find_container_init "$npid"); then break; fi
    [ "$(date +%s)" -lt "$deadline" ] || fail "nspawn did not start a container within ${wait_s}s"
    kill -0 $! 2>/dev/null || fail "nspawn exited during startup"
    sleep 0.05
done
echo "$init" > "$state/init.pid"

# 2. systemd inside reached running (or degraded: some unit failed, still usable).
status=
while :; do
    status=$(timeout 5 nsenter -t "$init" -a env -i PATH="$CONTAINER_PATH" \
             systemctl is-system-running </dev/null 2>/dev/null || true)
    case $status in running|degraded) break ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || fail "system state '$status' after ${wait_s}s"
    kill -0 "$npid" 2>/dev/null || fail "nspawn exited during boot"
    sleep 0.1
done
ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo "$ms" > "$state/boot-ms"
log "container $name is $status after ${ms} ms (nspawn pid $npid, init pid $init)"

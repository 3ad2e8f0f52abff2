# Shared helpers for the systemd-container harness. Sourced, not executed.
# shellcheck shell=bash

ROOTFS_CACHE=${DBBACKUP_ROOTFS_CACHE:-/var/cache/dbbackup-test}
ROOTFS="$ROOTFS_CACHE/rootfs"
STATE_BASE=${DBBACKUP_TEST_STATE:-/run/dbbackup-test}
CONTAINER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "${0##*/}: $*" >&2; exit 1; }
log() { echo "${0##*/}: $*" >&2; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# Machine names become directory and cgroup names: keep them boring.
check_name() {
    [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || die "bad container name '$1' (use [A-Za-z0-9_-], max 63)"
}

state_dir() { echo "$STATE_BASE/$1"; }

# The nspawn pid recorded by boot.sh, if that process is still nspawn.
nspawn_pid() {
    local f; f="$(state_dir "$1")/nspawn.pid"
    [ -r "$f" ] || return 1
    local pid; pid=$(cat "$f")
    [ -d "/proc/$pid" ] || return 1
    grep -q systemd-nspawn "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

# PID 1 of the container: the child of nspawn whose innermost NSpid is 1.
find_container_init() {
    local npid=$1 child
    for child in $(cat /proc/"$npid"/task/*/children 2>/dev/null); do
        if awk '/^NSpid:/ { exit ($NF == 1) ? 0 : 1 }' "/proc/$child/status" 2>/dev/null; then
            echo "$child"; return 0
        fi
    done
    return 1
}

# The recorded container PID 1, verified to still be a live init in a pid namespace.
container_init() {
    local f; f="$(state_dir "$1")/init.pid"
    [ -r "$f" ] || return 1
    local pid; pid=$(cat "$f")
    awk '/^NSpid:/ { exit ($NF == 1 && NF > 2) ? 0 : 1 }' "/proc/$pid/status" 2>/dev/null || return 1
    echo "$pid"
}

# Run a command inside the container with a clean environment.
in_container() {
    local name=$1; shift
    local pid; pid=$(container_init "$name") || die "container '$name' is not running"
    nsenter -t "$pid" -a env -i PATH="$CONTAINER_PATH" LANG=C.UTF-8 TERM=dumb "$@" </dev/null
}

# --- for test scripts: a tally of checks, and commands in the container named by $name.
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
x() { "$here/exec.sh" "$name" "$@"; }
put() { "$here/put.sh" "$name" "$@"; }

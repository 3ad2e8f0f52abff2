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
xq() { x "$@" >/dev/null 2>&1; }   # x for its exit status alone

# The repository these scripts are in (the sourcing script sets $here to its own directory).
repo=$(cd "$here/../.." && pwd)

# The dbbackup binary to test, on stdout: $1 when given, else the static release binary,
# built now.
test_binary() {
    local bin=${1:-}
    if [ -z "$bin" ]; then
        (cd "$repo" && timeout 1200 swift build -c release --static-swift-stdlib --product dbbackup 2>&1 | tail -n 1) >&2 \
            || die "building the static binary failed"
        bin="$(cd "$repo" && swift build -c release --show-bin-path)/dbbackup"
    fi
    [ -x "$bin" ] || die "no binary at $bin"
    echo "$bin"
}

# The dbbackup .deb to test, on stdout: $1 when given, else built now by packaging/build-deb.sh
# into the directory $2 (with dbbackup-cockpit's beside it).
test_deb() {
    local deb=${1:-}
    if [ -z "$deb" ]; then
        deb=$(DBBACKUP_DEB_OUTDIR="$2" "$repo/packaging/build-deb.sh") || die "building the packages failed"
    fi
    [ -f "$deb" ] || die "no package at $deb"
    echo "$deb"
}

# Installs the binary $1 into the container as the package does: the units, the generator
# link, sysusers and tmpfiles; systemd then reads the units.
install_units() {
    local units="$repo/systemd" f
    put "$1" /usr/bin/dbbackup 0755
    x mkdir -p /usr/lib/systemd/system-generators
    x ln -sf /usr/bin/dbbackup /usr/lib/systemd/system-generators/dbbackup-generator
    for f in "$units"/*.service "$units"/*.path "$units"/*.target; do put "$f" "/usr/lib/systemd/system/${f##*/}"; done
    put "$units/sysusers.d/dbbackup.conf" /usr/lib/sysusers.d/dbbackup.conf
    put "$units/tmpfiles.d/dbbackup.conf" /usr/lib/tmpfiles.d/dbbackup.conf
    x systemd-sysusers >/dev/null 2>&1
    x systemd-tmpfiles --create /usr/lib/tmpfiles.d/dbbackup.conf
    x systemctl daemon-reload
}

# install_units, then starts dbbackup.target.
install_as_package() {
    install_units "$1"
    x systemctl enable --quiet --now dbbackup.target
}

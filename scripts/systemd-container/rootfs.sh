#!/bin/bash
# Build (once) a Debian bookworm minbase root filesystem with systemd for the test
# containers, cached under /var/cache/dbbackup-test/rootfs. Safe to rerun: a complete
# cache is reused; an interrupted build is never reused (built in a temp dir, renamed).
#   rootfs.sh            build if missing, print the rootfs path
#   rootfs.sh --rebuild  throw the cache away and build again
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root

SUITE=bookworm
# Bump when the package list or the masking below changes: old caches are rebuilt.
ROOTFS_VERSION=1
PACKAGES=(systemd systemd-sysv dbus
          libsqlite3-0 libcurl4 libssl3 libstdc++6 libsystemd0
          sqlite3 ca-certificates)
MASKED=(apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer
        fstrim.timer console-getty.service systemd-timesyncd.service)
STAMP=.dbbackup-rootfs-complete

stamp_text() { echo "version=$ROOTFS_VERSION suite=$SUITE packages=${PACKAGES[*]} masked=${MASKED[*]}"; }

install_host_tools() {
    local missing=()
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    # --no-install-recommends: libnss-mymachines would edit the host's nsswitch.conf.
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
        -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" </dev/null >&2 \
    || { timeout 300 apt-get update -q </dev/null >&2
         DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
            -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" </dev/null >&2; }
}

# The first Debian main archive URI in the host's apt sources (deb822 or one-line).
host_mirror() {
    local m
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i ~ /debian\/?$/ && $i !~ /security/) { print $i; exit } ; break } }')
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

configure_rootfs() {
    local dir=$1 unit
    for unit in "${MASKED[@]}"; do
        ln -sfn /dev/null "$dir/etc/systemd/system/$unit"
    done
    echo dbbackup-test > "$dir/etc/hostname"
    # Empty machine-id: systemd generates one per boot (overlay keeps the cache pristine).
    : > "$dir/etc/machine-id"
    # No root password needed: we only enter via nsenter.
    rm -f "$dir"/var/cache/apt/archives/*.deb
}

[ "${1:-}" = --rebuild ] && rm -rf "$ROOTFS"

if [ -f "$ROOTFS/$STAMP" ] && [ "$(cat "$ROOTFS/$STAMP")" = "$(stamp_text)" ]; then
    echo "$ROOTFS"; exit 0
fi

install_host_tools
mkdir -p "$ROOTFS_CACHE"
# One builder at a time; a second caller waits and then reuses the result.
exec 9>"$ROOTFS_CACHE/.lock"
timeout 900 flock 9 || die "timed out waiting for another rootfs build"
if [ -f "$ROOTFS/$STAMP" ] && [ "$(cat "$ROOTFS/$STAMP")" = "$(stamp_text)" ]; then
    echo "$ROOTFS"; exit 0
fi

rm -rf "$ROOTFS_CACHE"/rootfs.tmp.*   # leftovers of interrupted builds
tmp=$(mktemp -d "$ROOTFS_CACHE/rootfs.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mirror=$(host_mirror)
log "debootstrap $SUITE from $mirror into $tmp"
start=$(date +%s)
include=$(IFS=,; echo "${PACKAGES[*]}")
timeout 1200 debootstrap --variant=minbase --include="$include" "$SUITE" "$tmp" "$mirror" </dev/null >&2 \
    || die "debootstrap failed (see output above)"
configure_rootfs "$tmp"
stamp_text > "$tmp/$STAMP"
chmod 755 "$tmp"
rm -rf "$ROOTFS.old"
[ -e "$ROOTFS" ] && mv "$ROOTFS" "$ROOTFS.old"
mv "$tmp" "$ROOTFS"
trap - EXIT
rm -rf "$ROOTFS.old"
log "rootfs built in $(( $(date +%s) - start )) s"
echo "$ROOTFS"

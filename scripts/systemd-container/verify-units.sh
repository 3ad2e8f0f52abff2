#!/bin/bash
# Offline checks of the static units, the generator's output, sysusers.d and tmpfiles.d:
#  - systemd-analyze verify on every static unit (templates through an instance) and on
#    every unit the generator wrote into GENERATED_DIR (its timers, and the services its
#    drop-ins extend); ANY stderr fails.
#  - systemd-analyze security --offline=yes on the hardened services; > 2.0 fails.
#  - systemd-sysusers / systemd-tmpfiles applied to a scratch root.
# verify checks that ExecStart= binaries exist, and the real /usr/bin/dbbackup may not
# be installed here: units are checked in a scratch root (--root=) holding a copy of the
# host's system units, the units at their installed paths and a stub /usr/bin/dbbackup.
# The host is not modified.
#   verify-units.sh GENERATED_DIR [UNITDIR]     (UNITDIR default: the repository's systemd/)
# GENERATED_DIR is what `dbbackup generate DIR` wrote (the tests make it from a configuration).
set -uo pipefail
shopt -s nullglob
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: verify-units.sh GENERATED_DIR [UNITDIR]" >&2; exit 2; }
generated=$(cd "$1" && pwd)
units=$(cd "${2:-$here/../../systemd}" && pwd)
max_score=2.0
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

root=$(mktemp -d /tmp/dbbackup-verify.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
ln -s usr/bin "$root/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /usr/bin/echo "$root/usr/bin/echo"
printf '#!/bin/sh\nexit 0\n' > "$root/usr/bin/dbbackup"
chmod 755 "$root/usr/bin/dbbackup"
for f in "$units"/*.service "$units"/*.timer "$units"/*.path "$units"/*.target; do
    cp "$f" "$root/usr/lib/systemd/system/"
done
# The generator's output: systemd-analyze --root= does not search generator directories, so
# it goes to /etc/systemd/system, which is searched before the static units just the same.
cp -a "$generated/." "$root/etc/systemd/system/"

# Every unit file must be covered: templates by an instance.
declare -A instance=(
    [dbbackup@.service]=dbbackup@example.service
    [dbbackup-failure@.service]=dbbackup-failure@dbbackup@example.service.service
)
checked=()
for f in "$units"/*.service "$units"/*.timer "$units"/*.path "$units"/*.target; do
    u=${f##*/}
    if [[ $u == *@.* ]]; then
        [ -n "${instance[$u]:-}" ] || { bad "verify $u: no instance configured in verify-units.sh"; continue; }
        u=${instance[$u]}
    fi
    checked+=("$u")
done
checked+=(dbbackup-failure@dbbackup-migration.service.service)
# Everything the generator wrote: timers, and the services its drop-ins extend.
for f in "$generated"/*.timer; do [ -e "$f" ] && checked+=("${f##*/}"); done
# Services the drop-ins extend (a template's drop-in is covered by the instances above).
for d in "$generated"/*.service.d; do [[ $d == *@.service.d ]] || checked+=("$(basename "$d" .d)"); done
for l in "$generated"/dbbackup.target.wants/*; do
    [ -e "$l" ] || [ -L "$l" ] || continue
    [ -f "$generated/$(readlink "$l" | sed 's|^\.\./||')" ] && ok "wants-link ${l##*/}" || bad "wants-link ${l##*/} is dangling"
done

for u in "${checked[@]}"; do
    out=$(SYSTEMD_UNIT_PATH="$root/usr/lib/systemd/system:" \
          timeout 60 systemd-analyze verify --man=no --root="$root" "$u" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "verify $u"; else bad "verify $u (rc $rc)"; echo "$out" | sed 's/^/     /'; fi
done

for f in "$units/dbbackup@.service" "$units/dbbackup-migration.service"; do
    out=$(timeout 60 systemd-analyze security --offline=yes --no-pager "$f" 2>&1 </dev/null)
    score=$(echo "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
    if [ -z "$score" ]; then bad "security ${f##*/}: no score"; echo "$out" | tail -5 | sed 's/^/     /'
    elif awk -v s="$score" -v m="$max_score" 'BEGIN { exit !(s <= m) }'; then ok "security ${f##*/}: $score <= $max_score"
    else bad "security ${f##*/}: $score > $max_score"; echo "$out" | grep '✗' | sed 's/^/     /'; fi
done

out=$(timeout 30 systemd-sysusers --root="$root" "$units/sysusers.d/dbbackup.conf" 2>&1 </dev/null)
if [ $? -eq 0 ] && grep -q '^dbbackup:' "$root/etc/passwd"; then ok "sysusers.d/dbbackup.conf"
else bad "sysusers.d/dbbackup.conf"; echo "$out" | sed 's/^/     /'; fi
out=$(timeout 30 systemd-tmpfiles --root="$root" --create "$units/tmpfiles.d/dbbackup.conf" 2>&1 </dev/null)
if [ $? -eq 0 ] && [ -z "$out" ] && [ "$(stat -c %u:%a "$root/etc/dbbackup/secrets")" = 0:700 ] \
   && [ "$(stat -c %u "$root/var/lib/dbbackup")" = "$(awk -F: '$1 == "dbbackup" { print $3 }' "$root/etc/passwd")" ]; then
    ok "tmpfiles.d/dbbackup.conf"
else bad "tmpfiles.d/dbbackup.conf"; echo "$out" | sed 's/^/     /'; fi

echo "verify-units: $passed passed, $failed failed"
[ $failed -eq 0 ]

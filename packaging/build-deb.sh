#!/bin/bash
# Build the dbbackup Debian package.
#   packaging/build-deb.sh [VERSION]      VERSION defaults to dbbackup's own (DBBackupVersion in
#                                         Sources/DBBackupCLI/DBBackup.swift, what --version prints)
# Writes dist/dbbackup_VERSION_ARCH.deb (override the directory with DBBACKUP_DEB_OUTDIR) and
# prints its path; the Cockpit page goes beside it as dbbackup-cockpit_VERSION_all.deb.
# DBBACKUP_DEB_DEFAULT_CONFIG=FILE ships FILE as the default configuration instead of
# packaging/dbbackup.toml (deb-test.sh upgrades to a build whose default differs). Staging happens in .build/deb/; the detached debug symbols of the binary are
# kept there as dbbackup.debug (not packaged).
#
# Steps: swift build (release, --static-swift-stdlib) -> strip -> stage the files at their
# installed paths -> man page from the binary's own help (swift-argument-parser's
# generate-manual) + packaging/dbbackup.8.extra -> bash completion from the binary ->
# Depends from dpkg-shlibdeps, Installed-Size and control from dpkg-gencontrol -> md5sums ->
# dpkg-deb --build --root-owner-group (no fakeroot needed).
# Needs: swift, dpkg-dev, binutils (the build machine of scripts/install-deps.sh has them all).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
die() { echo "build-deb: $*" >&2; exit 1; }
log() { echo "build-deb: $*" >&2; }

version=${1:-$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$repo/Sources/DBBackupCLI/DBBackup.swift")}
# Debian version syntax (upstream part starts with a digit; no epoch here).
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$ ]] || die "bad version '$version' (e.g. 0.1.0 or 0.1.0-1)"
for tool in swift dpkg-deb dpkg-shlibdeps dpkg-gencontrol dpkg-parsechangelog strip objcopy gzip md5sum; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install dpkg-dev binutils; swift from swift.org)"
done
arch=$(dpkg --print-architecture)
outdir=${DBBACKUP_DEB_OUTDIR:-$repo/dist}
work=$repo/.build/deb
src=$work/src            # a minimal "source tree": debian/control + debian/changelog
pkg=$src/debian/dbbackup # the package root, as debhelper would lay it out

# --- 1. the release binary with the Swift stdlib linked in; full RELRO (-z relro -z now),
# as Debian's hardening build flags would give.
cd "$repo"
build=(swift build -c release --static-swift-stdlib --product dbbackup
       -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
log "${build[*]}"
timeout 1800 "${build[@]}" 2>&1 | tail -n 1 >&2
[ "${PIPESTATUS[0]}" -eq 0 ] || die "swift build failed"
binary="$("${build[@]}" --show-bin-path)/dbbackup"
[ -x "$binary" ] || die "no binary at $binary"

# --- 2. the tree
rm -rf "$work"
mkdir -p "$pkg/DEBIAN" "$outdir"
install -d "$pkg/usr/bin" "$pkg/usr/lib/systemd/system" "$pkg/usr/lib/systemd/system-generators" \
           "$pkg/usr/lib/sysusers.d" "$pkg/usr/lib/tmpfiles.d" "$pkg/usr/share/dbbackup" \
           "$pkg/usr/share/man/man8" "$pkg/usr/share/bash-completion/completions" \
           "$pkg/usr/share/doc/dbbackup" "$pkg/usr/share/lintian/overrides"

# Stripped as dh_strip does; the debug info is kept beside the staging tree.
objcopy --only-keep-debug "$binary" "$work/dbbackup.debug"
install -m 0755 "$binary" "$pkg/usr/bin/dbbackup"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$pkg/usr/bin/dbbackup"
objcopy --add-gnu-debuglink="$work/dbbackup.debug" "$pkg/usr/bin/dbbackup"
"$pkg/usr/bin/dbbackup" --version >/dev/null || die "the stripped binary does not run"

# The generator is the binary itself; it dispatches on argv[0] (dbbackup-generator).
# Relative link: both ends are under /usr (Debian policy 10.5).
ln -s ../../../bin/dbbackup "$pkg/usr/lib/systemd/system-generators/dbbackup-generator"
for unit in dbbackup@.service dbbackup-migration.path dbbackup-migration.service \
            dbbackup-failure@.service dbbackup.target; do
    install -m 0644 "$repo/systemd/$unit" "$pkg/usr/lib/systemd/system/$unit"
done
install -m 0644 "$repo/systemd/sysusers.d/dbbackup.conf" "$pkg/usr/lib/sysusers.d/dbbackup.conf"
install -m 0644 "$repo/systemd/tmpfiles.d/dbbackup.conf" "$pkg/usr/lib/tmpfiles.d/dbbackup.conf"
# The commented default configuration. Not a conffile: postinst copies it to
# /etc/dbbackup/dbbackup.toml when that is missing, and the CLI rewrites that file.
install -m 0644 "${DBBACKUP_DEB_DEFAULT_CONFIG:-$here/dbbackup.toml}" "$pkg/usr/share/dbbackup/dbbackup.toml"

# --- 3. documentation: changelog (with an entry for VERSION if it is not the newest),
# copyright, man page, bash completion, lintian overrides
mkdir -p "$src/debian"
changelog=$src/debian/changelog
if [ "$(dpkg-parsechangelog -l "$here/changelog" -S Version)" = "$version" ]; then
    cp "$here/changelog" "$changelog"
else
    { printf 'dbbackup (%s) unstable; urgency=medium\n\n  * Build of version %s from git %s.\n\n -- %s  %s\n\n' \
          "$version" "$version" "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
          "$(dpkg-parsechangelog -l "$here/changelog" -S Maintainer)" "$(date -R)"
      cat "$here/changelog"; } > "$changelog"
fi
# Reproducible timestamps (dpkg-deb clamps mtimes; the man page takes its date from it).
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$changelog" -S Timestamp)
export SOURCE_DATE_EPOCH
# Native version (no "-revision"): changelog.gz; otherwise changelog.Debian.gz.
if [[ $version == *-* ]]; then clname=changelog.Debian.gz; else clname=changelog.gz; fi
gzip -9n < "$changelog" > "$pkg/usr/share/doc/dbbackup/$clname"
install -m 0644 "$here/copyright" "$pkg/usr/share/doc/dbbackup/copyright"
install -m 0644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/dbbackup"

# The man page, generated from the binary's --help texts by swift-argument-parser's
# generate-manual tool (`swift package plugin generate-manual --help` builds it), run on the
# static binary directly so the plugin does not rebuild dbbackup without the static stdlib.
timeout 900 swift package plugin generate-manual --help >/dev/null 2>&1 || die "cannot build swift-argument-parser's generate-manual tool"
manual_tool=$(find "$repo/.build" -path '*/debug/generate-manual-tool' -type f -perm -u+x | head -n 1)
[ -n "$manual_tool" ] || die "generate-manual-tool not found under .build"
mkdir -p "$work/man"
"$manual_tool" "$binary" --section 8 --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" \
    --authors 'dbbackup maintainers' --output-directory "$work/man" >/dev/null
[ -s "$work/man/dbbackup.8" ] || die "generate-manual wrote no dbbackup.8"
# Blank lines are not valid mdoc (groff warns): make them paragraph breaks.
{ sed 's/^$/.Pp/' "$work/man/dbbackup.8"; cat "$here/dbbackup.8.extra"; } | gzip -9n > "$pkg/usr/share/man/man8/dbbackup.8.gz"

# A completion file is sourced, not executed: no #! line.
"$pkg/usr/bin/dbbackup" --generate-completion-script bash | sed '1{/^#!/d}' \
    > "$pkg/usr/share/bash-completion/completions/dbbackup"

# --- 4. control: maintainer scripts, triggers (no conffiles), Depends from what the binary links
install -m 0755 "$here/maintainer/preinst" "$here/maintainer/postinst" "$here/maintainer/prerm" "$here/maintainer/postrm" "$pkg/DEBIAN/"
install -m 0644 "$here/triggers" "$pkg/DEBIAN/triggers"
grep -v '^#' "$here/control" > "$src/debian/control"
(
    cd "$src"
    # shlibs:Depends: for each NEEDED library of the binary, the package providing it and the
    # minimal version from its shlibs/symbols files.
    dpkg-shlibdeps -Tdebian/dbbackup.substvars debian/dbbackup/usr/bin/dbbackup
    dpkg-gencontrol -pdbbackup -v"$version" -Tdebian/dbbackup.substvars -Pdebian/dbbackup
)
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/control" "$pkg/DEBIAN/triggers"

deb=$outdir/dbbackup_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
log "$(dpkg-deb -f "$deb" Version Installed-Size Depends | tr '\n' ' ')"
log "$(du -h "$deb" | cut -f1) $deb"

# --- 5. dbbackup-cockpit: the Cockpit page (cockpit/) as a package of its own, Architecture
# all, depending on cockpit-bridge and on this very dbbackup (the page drives its --json).
# Why a second package: packaging/README.md. Written beside the first as
# dbbackup-cockpit_VERSION_all.deb; stdout names only the first, as before.
cpkg=$src/debian/dbbackup-cockpit
install -d "$cpkg/DEBIAN" "$cpkg/usr/share/cockpit/dbbackup" "$cpkg/usr/share/doc/dbbackup-cockpit" \
           "$cpkg/usr/share/lintian/overrides"
find "$repo/cockpit" -maxdepth 1 -type f ! -name '*.md' -exec install -m 0644 -t "$cpkg/usr/share/cockpit/dbbackup" {} +
gzip -9n < "$changelog" > "$cpkg/usr/share/doc/dbbackup-cockpit/$clname"
install -m 0644 "$here/dbbackup-cockpit.copyright" "$cpkg/usr/share/doc/dbbackup-cockpit/copyright"
install -m 0644 "$here/dbbackup-cockpit.lintian-overrides" "$cpkg/usr/share/lintian/overrides/dbbackup-cockpit"
(cd "$src" && dpkg-gencontrol -pdbbackup-cockpit -v"$version" -Pdebian/dbbackup-cockpit)
(cd "$cpkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$cpkg/DEBIAN/md5sums" "$cpkg/DEBIAN/control"
cdeb=$outdir/dbbackup-cockpit_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$cpkg" "$cdeb" >/dev/null
log "$(dpkg-deb -f "$cdeb" Package Version Installed-Size Depends | tr '\n' ' ')"

echo "$deb"

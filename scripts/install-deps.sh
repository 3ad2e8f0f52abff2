#!/usr/bin/env bash
# Installs what building and testing dbbackup needs on a fresh Debian 12 machine:
# the C libraries it links (from Debian) and the tools its tests drive. Idempotent.
set -euo pipefail

packages=(
  pkg-config
  libsqlite3-dev sqlite3          # the database engine, and the sqlite3 CLI for comparisons
  libssl-dev                      # libcrypto: SHA-256, MD5, HMAC; X25519, HKDF, ChaCha20-Poly1305 (age)
  libcurl4-openssl-dev            # the S3 client's HTTP
  libsystemd-dev                  # sd_notify, sd_journal_sendv
  libzstd-dev                     # zstd compression of stored backups
  zlib1g-dev                      # crc32_z: the CRC-32 of S3 part checksums
  zstd age                        # the standard tools stored backups must restore with (interoperability tests)
  util-linux                      # setpriv, flock: tests run as other users, hold locks
  faketime                        # libfaketime: runs with the clock stepped back
  dosfstools fusefat              # a vfat image (mkfs.vfat) mounted with FUSE: a file system without hard links
  python3                         # a second process writing to the database during snapshots
  dpkg-dev binutils               # packaging/build-deb.sh: dpkg-shlibdeps, dpkg-gencontrol, strip
  radosgw ceph-mon ceph-osd uuid-runtime   # Ceph's S3 gateway, a second real S3 server for the tests
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# moto (a real S3 server that checks signatures and IAM policies), boto3/botocore (the
# reference SigV4 signer), awscli (the benchmark's baseline): from PyPI.
if ! python3 -c 'import moto, boto3; assert moto.__version__ == "5.2.1"' 2>/dev/null \
   || ! command -v moto_server >/dev/null || ! command -v aws >/dev/null; then
  echo "installing: moto[server]==5.2.1 boto3 awscli (PyPI)"
  python3 -m pip install -q 'moto[server]==5.2.1' boto3 awscli
fi

command -v swift >/dev/null || { echo "swift is not on PATH (expected Swift 6.x, e.g. /opt/swift/usr/bin)" >&2; exit 1; }

#!/bin/bash
# Copy a host file into a running container (created with parent dirs).
#   put.sh NAME HOSTFILE CONTAINERPATH [MODE]      (MODE defaults to 0644)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 3 ] || die "usage: put.sh NAME HOSTFILE CONTAINERPATH [MODE]"
[ -f "$2" ] || die "$2 is not a file"
[[ $3 == /* ]] || die "container path must be absolute"
"$here/exec.sh" "$1" sh -c 'mkdir -p "$(dirname "$1")" && cat > "$1.put-tmp" && chmod "$2" "$1.put-tmp" && mv -f "$1.put-tmp" "$1"' \
    put "$3" "${4:-0644}" < "$2"

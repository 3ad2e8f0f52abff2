#!/bin/bash
# Run a command inside a container booted by boot.sh, with a clean environment.
#   exec.sh NAME [--timeout SECONDS] CMD [ARG...]
# stdin is passed through (so `exec.sh NAME sh -c 'cat > /f' < file` copies a file in);
# the exit status is the command's. The timeout (default 120 s) runs inside the
# container so the command itself is killed, not just nsenter.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root

[ $# -ge 2 ] || die "usage: exec.sh NAME [--timeout SECONDS] CMD [ARG...]"
name=$1; shift
check_name "$name"
limit=120
if [ "$1" = --timeout ]; then
    [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs seconds"
    limit=$2; shift 2
fi
[ $# -ge 1 ] || die "no command given"
pid=$(container_init "$name") || die "container '$name' is not running (boot.sh $name first)"
exec timeout --kill-after=5 $(( limit + 10 )) \
    nsenter -t "$pid" -a env -i PATH="$CONTAINER_PATH" LANG=C.UTF-8 TERM=dumb \
    timeout --kill-after=5 "$limit" "$@"

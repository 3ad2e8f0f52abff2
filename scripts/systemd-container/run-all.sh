#!/bin/bash
# Everything the systemd groundwork is tested with, in order, no stdin needed:
# offline unit checks, swift test (SystemdSupportTests), then the real-systemd checks.
# Exit status non-zero if any step fails; each step prints its own "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkg=$(cd "$here/../.." && pwd)
status=0
step() { echo "== $*"; "$@" </dev/null || { echo "== FAILED: $*"; status=1; }; }
step "$here/verify-units.sh"
step bash -c "cd '$pkg' && swift test --filter SystemdSupportTests"
step "$here/smoke.sh"
step "$here/units-in-container.sh"
step "$here/journal-in-container.sh"
exit $status

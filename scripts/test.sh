#!/usr/bin/env bash
# All tests, from a fresh machine: installs what they need, then runs them.
#   0. swift format lint: the tree is formatted as .swift-format says, no line over 120.
#   1. swift test: unit and integration tests (real SQLite files, the real binary,
#      systemd-analyze on generated units).
#   2. scripts/systemd-container/e2e.sh: the product in a real systemd, booted in a
#      systemd-nspawn container (the harness installs systemd-container and debootstrap
#      and builds the container's root file system itself).
#   3. scripts/systemd-container/ownership-test.sh: the services' identity in a real systemd:
#      every database layout, idle and written, missing and /home directories, the checks,
#      and what group dbbackup grants.
#   4. scripts/systemd-container/pacing-test.sh: the services' I/O settings as systemd takes
#      them here, and the backup's pacing signals from inside the services' sandbox.
#   5. scripts/systemd-container/deb-test.sh: the .deb installed, upgraded, removed and
#      purged in a fresh container.
#   6. scripts/systemd-container/service-test.sh: the .deb as monitoring sees it (status
#      --check, heartbeat, the Prometheus node exporter, the generator's report).
#   7. scripts/systemd-container/cockpit-test.sh: the Cockpit page in a real browser against
#      Cockpit and the packages in a fresh container (installs chromium and Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift format lint --strict --recursive Package.swift Sources Tests
# swift format breaks code, not string literals or comments: those are held to 120 columns here.
if LC_ALL=C.UTF-8 grep -rnE --include='*.swift' '^.{121,}' Package.swift Sources Tests; then
  echo "test.sh: the lines above are longer than 120 characters (.swift-format's lineLength)" >&2
  exit 1
fi
swift build --build-tests 2>&1 | tail -n 3
swift test --skip-build
scripts/systemd-container/e2e.sh
scripts/systemd-container/ownership-test.sh "$(swift build -c release --show-bin-path)/dbbackup"
scripts/systemd-container/pacing-test.sh "$(swift build -c release --show-bin-path)/dbbackup"
scripts/systemd-container/deb-test.sh
scripts/systemd-container/service-test.sh
scripts/systemd-container/cockpit-test.sh

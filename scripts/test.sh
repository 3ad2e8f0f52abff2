#!/usr/bin/env bash
# All tests, from a fresh machine: installs what they need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests 2>&1 | tail -n 3
swift test --skip-build

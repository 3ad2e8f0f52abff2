#!/usr/bin/env bash
# Builds dbbackup as shipped (release, static Swift stdlib) and runs the benchmarks.
#   Benchmarks/run.sh [--quick] [--only snapshot snapshot-recent load upload generator small]
#                     [--devices disk tmpfs-loop throttled-loop] [--rounds N] [--throttle-mib N]
# The load comparison's loop devices need root (losetup, mount, blkio throttle). The full run
# takes about 20 minutes on 2 cores; --quick is a smoke run of a few minutes.
# (upload: moto and, where installed, radosgw; awscli from PyPI, rclone if installed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --static-swift-stdlib --product dbbackup 2>&1 | tail -n 1
exec python3 Benchmarks/bench.py --binary "$(swift build -c release --show-bin-path)/dbbackup" "$@"

#!/usr/bin/env bash
# Builds codec-tool as the product is built (release, static Swift stdlib) and runs the
# compression benchmarks.   Benchmarks/run-compression.sh [--quick] [--only snapshot ratio]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --static-swift-stdlib --product codec-tool 2>&1 | tail -n 1
exec python3 Benchmarks/compression.py --tool "$(swift build -c release --show-bin-path)/codec-tool" "$@"

#!/usr/bin/env bash
# Quick start: installs what is missing, builds release, and runs the daemon
# on 127.0.0.1:8080 with the embedded store under ./data. Extra arguments go
# to `ringflow serve` (e.g. --shards 2, --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--help" ]]; then
  echo "usage: tools/run.sh [ringflow serve flags...]"
  exit 0
fi
./tools/setup.sh
./tools/build.sh release
mkdir -p data
exec build/release/src/app/ringflow serve --listen 127.0.0.1:8080 --data-dir ./data "$@"

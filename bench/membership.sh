#!/usr/bin/env bash
# Membership heartbeats in Redis vs PostgreSQL's beat rows alone (issue 11 item 2): time from
# SIGTERM / kill -9 of one of two daemons to the other holding all 256 partitions.
#
# Uses the system tests' fixtures (a private PostgreSQL via tools/pg.sh, a private Redis via
# tools/redis.sh, daemons on loopback): tests/system/measure_membership.py, TRIALS fresh pairs
# per case. Prints the machine, then one line per case: median, min, max and every trial.
#
#   bench/membership.sh             # TRIALS=3, the release build
#   TRIALS=5 SKIP_BUILD=1 bench/membership.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TRIALS="${TRIALS:-3}"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  ./tools/build.sh release
fi
bin="${RINGFLOW_BIN:-$PWD/build/release/src/app/ringflow}"
out=$(mktemp /tmp/rf-membership.XXXXXX)
trap 'rm -f "$out"' EXIT

echo "machine: $(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "trials per case: $TRIALS (2 daemons, 2 shards each, PostgreSQL lease 4 s, Redis entry TTL 2 s)"
RF_MEASURE_TRIALS="$TRIALS" RF_MEASURE_OUT="$out" RINGFLOW_BIN="$bin" RINGFLOW_TEST_STORE=postgres \
  RINGFLOW_REQUIRE_PG=1 "${PYTHON:-/usr/bin/python3}" -m pytest tests/system/measure_membership.py -q -p no:cacheprovider \
  >/dev/null
echo "case   membership  time from the signal to the survivor holding 256 partitions"
cat "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

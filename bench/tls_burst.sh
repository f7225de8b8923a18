#!/usr/bin/env bash
# TLS handshakes beside keep-alive traffic: 100 keep-alive HTTP/1.1 clients over TLS on
# /health/live, alone and while a burst of new TLS connections (one request each) arrives.
# If handshakes stalled a shard, the keep-alive clients' p99 would jump during the burst.
#
#   bench/tls_burst.sh [--duration 10s] [--burst 2000] [--shards N]
#
# Binary: $RINGFLOW_BIN (default build/release/src/app/ringflow). Needs h2load (nghttp2-client)
# and the openssl CLI. The server listens on 127.0.0.1 only and is stopped (by PID) on exit.
set -euo pipefail

DURATION=10s
BURST=2000
SHARDS=$(nproc)

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "$0"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
        --burst) BURST=${2:?--burst needs a value}; shift 2 ;;
        --shards) SHARDS=${2:?--shards needs a value}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "tls_burst.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "tls_burst.sh: --duration in seconds, e.g. 10s" >&2; exit 2; }
[[ $BURST =~ ^[1-9][0-9]*$ ]] || { echo "tls_burst.sh: bad --burst: $BURST" >&2; exit 2; }
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "tls_burst.sh: bad --shards: $SHARDS" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=tls_burst.sh
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
missing=()
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
install_missing "${missing[@]}"
[[ -x $RINGFLOW_BIN ]] || { echo "tls_burst.sh: no binary $RINGFLOW_BIN" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d -t rf-tls.XXXXXX)
cleanup() {
    stop_started
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
    -out "$TMP/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1
PORT=$(free_port)
"$RINGFLOW_BIN" serve --listen "127.0.0.1:$PORT" --shards "$SHARDS" --data-dir "$TMP/data" \
    --log-level warn --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" \
    "${RF_EGRESS_ARGS[@]}" 2>"$TMP/ringflow.log" &
RF_PID=$!
PIDS+=("$RF_PID")
for ((i = 0; i < 100; i++)); do
    [[ $(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/health/ready") == 200 ]] && break
    kill -0 "$RF_PID" 2>/dev/null || { tail "$TMP/ringflow.log" >&2; exit 1; }
    sleep 0.1
done
URL=https://127.0.0.1:$PORT/health/live
SECONDS_N=${DURATION%s}

# h2load output + --log-file -> "req/s p50_ms p99_ms errors"
summarize() { # out log
    local rps err pct
    rps=$(awk '/^finished in/ { gsub(/,/, ""); print $4 }' "$1")
    err=$(awk '/^requests:/ { gsub(/,/, ""); e = $10 + $12 + $14 } END { print e + 0 }' "$1")
    pct=$(cut -f3 "$2" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 0"; exit }
        i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
        i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000 }')
    echo "${rps:-0} $pct ${err:-0}"
}

keepalive() { # name
    h2load --h1 -t1 -c100 -D "$SECONDS_N" --warm-up-time=1 --log-file="$TMP/$1.log" "$URL" \
        >"$TMP/$1.txt" 2>&1 || true
}

echo "== ringflow TLS handshake burst =="
echo "machine : nproc=$(nproc) kernel=$(uname -r); shards=$SHARDS; load generator on the same cores"
echo "keep-alive: 100 HTTP/1.1 clients over TLS for $DURATION; burst: $BURST new TLS connections, 1 request each"

keepalive alone
keepalive during &
KA_PID=$!
sleep 2  # the burst lands in the middle of the measured window
h2load --h1 -t1 -c"$BURST" -n"$BURST" "$URL" >"$TMP/burst.txt" 2>&1 || true
wait "$KA_PID" || true

read -r a_rps a_p50 a_p99 a_err <<<"$(summarize "$TMP/alone.txt" "$TMP/alone.log")"
read -r d_rps d_p50 d_p99 d_err <<<"$(summarize "$TMP/during.txt" "$TMP/during.log")"
echo
printf '%-22s | %10s | %9s | %9s | %6s\n' "keep-alive clients" req/s "p50 (ms)" "p99 (ms)" errors
printf '%s\n' "-----------------------+------------+-----------+-----------+-------"
printf '%-22s | %10.0f | %9.3f | %9.3f | %6d\n' alone "$a_rps" "$a_p50" "$a_p99" "$a_err"
printf '%-22s | %10.0f | %9.3f | %9.3f | %6d\n' "during the burst" "$d_rps" "$d_p50" "$d_p99" "$d_err"
echo
echo "burst ($BURST connections):"
grep -E '^finished in|^requests:|^time for connect|^time to 1st byte' "$TMP/burst.txt" | sed 's/^/  /'
kill -0 "$RF_PID" 2>/dev/null || echo "WARNING: ringflow is no longer running"

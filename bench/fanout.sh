#!/usr/bin/env bash
# SSE fanout: (a) many idle subscribers on one daemon, RSS per subscriber; (b) subscribers of
# one workflow stream while runs produce events: deliveries/s and delivery latency (the event's
# at_ms -> received by the driver), one row per event rate; (c) the same over HTTP/2.
#
#   bench/fanout.sh [--idle N] [--subscribers M] [--events R1,R2,...] [--duration 10s]
#                   [--shards N] [--threads T] [--skip-idle] [--skip-stream]
#
# Defaults: --idle 50000, --subscribers 10000, --events 100 (events/s, approximate: runs of a
# one-step workflow at R / events-per-run runs/s), --duration 10s. The driver is
# build/release/bench/driver/rf-fanout (epoll; HTTP/1.1, or HTTP/2 via nghttp2); it binds its connections to
# 127.0.0.2 and up (one address per 20,000 connections) and connects to 127.0.0.1 only.
# (c) is (b) over HTTP/2 (h2c prior knowledge, 100 streams per connection). FSYNC=never runs
# the daemon with --fsync never (latency without the group commit's fsync). Stops only the
# PIDs it started.
set -euo pipefail

IDLE=50000
SUBS=10000
EVENTS=100
DURATION=10s
SHARDS=$(nproc)
THREADS=2
SKIP_IDLE=0
SKIP_STREAM=0
FSYNC=${FSYNC:-always}

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "$0"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --idle) IDLE=${2:?--idle needs a value}; shift 2 ;;
        --subscribers) SUBS=${2:?--subscribers needs a value}; shift 2 ;;
        --events) EVENTS=${2:?--events needs a value}; shift 2 ;;
        --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
        --shards) SHARDS=${2:?--shards needs a value}; shift 2 ;;
        --threads) THREADS=${2:?--threads needs a value}; shift 2 ;;
        --skip-idle) SKIP_IDLE=1; shift ;;
        --skip-stream) SKIP_STREAM=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "fanout.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $IDLE =~ ^[1-9][0-9]*$ ]] || { echo "fanout.sh: bad --idle: $IDLE" >&2; exit 2; }
[[ $SUBS =~ ^[1-9][0-9]*$ ]] || { echo "fanout.sh: bad --subscribers: $SUBS" >&2; exit 2; }
[[ $EVENTS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "fanout.sh: bad --events: $EVENTS" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "fanout.sh: --duration in seconds, e.g. 10s" >&2; exit 2; }
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "fanout.sh: bad --shards: $SHARDS" >&2; exit 2; }
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || { echo "fanout.sh: bad --threads: $THREADS" >&2; exit 2; }
[[ $FSYNC == always || $FSYNC == never ]] || { echo "fanout.sh: FSYNC must be always or never" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=fanout.sh
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
FANOUT_BIN=${FANOUT_BIN:-$REPO/build/release/bench/driver/rf-fanout}
command -v curl >/dev/null 2>&1 || install_missing curl
for bin in "$RINGFLOW_BIN" "$FANOUT_BIN"; do
    [[ -x $bin ]] || { echo "fanout.sh: binary not found: $bin (tools/build.sh release)" >&2; exit 1; }
done

# Over HTTP/1.1 the daemon and the driver each hold one descriptor per subscriber; over HTTP/2
# one per 100 streams, so the HTTP/2 idle row keeps the asked count (IDLE_H2) where the others
# are capped.
IDLE_H2=$IDLE
MAX_SUBS=$((IDLE > SUBS ? IDLE : SUBS))
WANT_FDS=$((MAX_SUBS + 4096))
NOTE=""
if (($(ulimit -Hn) < WANT_FDS)) && ! ulimit -Hn "$WANT_FDS" 2>/dev/null; then
    # No CAP_SYS_RESOURCE (e.g. a container): as many subscribers as the hard limit allows.
    hard=$(ulimit -Hn)
    cap=$((hard - 1024))
    ((cap > 0)) || { echo "fanout.sh: descriptor hard limit $hard is too low" >&2; exit 1; }
    NOTE="descriptor hard limit $hard (cannot raise it here): HTTP/1.1 subscribers capped at $cap"
    ((IDLE <= cap)) || IDLE=$cap
    ((SUBS <= cap)) || SUBS=$cap
    WANT_FDS=$hard
fi
ulimit -n "$WANT_FDS"
sources_for() { echo $((($1 + 19999) / 20000)); }

TMP=$(mktemp -d -t rf-fanout.XXXXXX)
cleanup() {
    stop_started
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tcp_mem_pages() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }

# start_daemon: a fresh daemon in $TMP/dN; sets RF_PID, RF.
n_daemon=0
start_daemon() {
    n_daemon=$((n_daemon + 1))
    local port dir=$TMP/d$n_daemon
    port=$(free_port)
    mkdir -p "$dir"
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$port" --shards "$SHARDS" --data-dir "$dir/data" \
        --log-level warn --access-log false --fsync "$FSYNC" "${RF_EGRESS_ARGS[@]}" 2>"$dir/ringflow.log" &
    RF_PID=$!
    PIDS+=("$RF_PID")
    wait_ready "$RF_PID" "$port" /health/ready "$dir/ringflow.log"
    RF=http://127.0.0.1:$port
    RF_PORT=$port
    curl -fsS -o /dev/null --max-time 10 -X PUT -H 'Content-Type: application/json' \
        --data-binary '{"steps":[{"id":"a","type":"noop"}]}' "$RF/v1/workflows/fan"
}

metric() { # NAME: the sum of its samples
    curl -s --max-time 5 "$RF/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}

echo "fanout.sh: $(nproc) cores, shards=$SHARDS, driver threads=$THREADS, embedded store fsync=$FSYNC; $(date -u +%FT%TZ)"
[[ -z $NOTE ]] || echo "fanout.sh: $NOTE"

# ------------------------------------------------------------------ (a) idle subscribers
# idle_row LABEL COUNT [DRIVER_ARGS...]: COUNT subscribers on a fresh daemon; its RSS before and
# with them.
idle_row() {
    local label=$1 count=$2 rss0 rss1 tcp0 tcp1 live ready_line i
    shift 2
    start_daemon
    # Warm: a few subscribers in and out, so that first-use allocations are in the baseline.
    "$FANOUT_BIN" --port "$RF_PORT" --path /v1/events?workflow=fan --subscribers 100 --hold 0.5 "$@" >/dev/null
    sleep 1
    rss0=$(rss_kib "$RF_PID")
    tcp0=$(tcp_mem_pages)
    rm -f "$TMP/ready"
    "$FANOUT_BIN" --port "$RF_PORT" --path /v1/events?workflow=fan --subscribers "$count" \
        --threads "$THREADS" --hold 600 --ready-file "$TMP/ready" "$@" \
        >"$TMP/idle.out" 2>"$TMP/idle.err" &
    DRIVER_PID=$!
    PIDS+=("$DRIVER_PID")
    for ((i = 0; i < 1800; i++)); do
        [[ -e $TMP/ready ]] && break
        kill -0 "$DRIVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 3
    rss1=$(rss_kib "$RF_PID")
    tcp1=$(tcp_mem_pages)
    stop_pid "$DRIVER_PID"
    ready_line=$(head -n 1 "$TMP/idle.out")
    # The driver's count (the warm-up's closed streams may still be counted by the daemon
    # until their next heartbeat finds them gone: they are in the baseline too).
    live=$(sed -n 's/.*connected=\([0-9]*\).*/\1/p' <<<"$ready_line")
    echo
    echo "(a) idle SSE subscribers ($label, /v1/events?workflow=fan): $ready_line"
    awk -v n="$live" -v r0="$rss0" -v r1="$rss1" -v t0="$tcp0" -v t1="$tcp1" 'BEGIN {
        printf "    daemon RSS idle (reference): %.1f MiB; with %d subscribers: %.1f MiB\n", r0 / 1024, n, r1 / 1024
        if (n > 0) printf "    RSS per subscriber: %.2f KiB (daemon RSS delta / subscribers)\n", (r1 - r0) / n
        if (n > 0) printf "    kernel TCP buffer memory (sockstat, both ends): %+d pages = %.2f KiB per connection pair\n", t1 - t0, (t1 - t0) * 4 / n
    }'
    stop_pid "$RF_PID"
}
if [[ $SKIP_IDLE == 0 ]]; then
    idle_row "HTTP/1.1, one connection each" "$IDLE" --sources "$(sources_for "$IDLE")"
    idle_row "HTTP/2, 100 streams per connection" "$IDLE_H2" --h2-streams 100
fi

# ------------------------------------------------------------------ (b), (c) stream fanout
# stream_row EVENTS_PER_S [DRIVER_ARGS...]: one measured row (RF, RF_PID, per_run set).
stream_row() {
    local ev=$1 runs line c0 c1 w0 w1 f0 f1 x0 x1 hz i
    shift
    runs=$(awk -v e="$ev" -v p="$per_run" 'BEGIN { printf "%.2f", e / p }')
    rm -f "$TMP/ready"
    w0=$(metric rf_sse_writes_total)
    f0=$(metric rf_sse_frames_total)
    x0=$(metric rf_sse_dropped_total)
    "$FANOUT_BIN" --port "$RF_PORT" --path /v1/events?workflow=fan --subscribers "$SUBS" \
        --threads "$THREADS" --duration "$secs" --ready-file "$TMP/ready" \
        --produce-path /v1/workflows/fan/runs --produce-rate "$runs" "$@" \
        >"$TMP/stream.out" 2>"$TMP/stream.err" &
    DRIVER_PID=$!
    PIDS+=("$DRIVER_PID")
    for ((i = 0; i < 1800; i++)); do
        [[ -e $TMP/ready ]] && break
        kill -0 "$DRIVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    c0=$(cpu_ticks "$RF_PID")
    sleep "$secs"
    c1=$(cpu_ticks "$RF_PID")
    wait "$DRIVER_PID" || true
    forget_pid "$DRIVER_PID"
    w1=$(metric rf_sse_writes_total)
    f1=$(metric rf_sse_frames_total)
    x1=$(metric rf_sse_dropped_total)
    line=$(tail -n 1 "$TMP/stream.out")
    hz=$(getconf CLK_TCK)
    if ! kill -0 "$RF_PID" 2>/dev/null; then
        echo "fanout.sh: the daemon exited during the run; its log:" >&2
        tail -n 30 "$TMP/d$n_daemon/ringflow.log" >&2
        exit 1
    fi
    printf '    %-10s %-9s %12s %14s %8s %8s %8s %9s %9s %10s\n' "$ev" "$runs" "$(field deliveries)" \
        "$(field rate)" "$(field p50_ms)" "$(field p99_ms)" "$(field max_ms)" \
        "$(awk -v a="$c0" -v b="$c1" -v s="$secs" -v h="$hz" 'BEGIN { printf "%.0f", (b - a) / h / s * 100 }')" \
        "$(field cpu_pct)" \
        "$(awk -v a="$w0" -v b="$w1" -v x="$f0" -v y="$f1" 'BEGIN { if (b > a) printf "%.2f", (y - x) / (b - a); else print "-" }')"
    echo "      driver: $line"
    echo "      daemon: subscribers cut off at --sse-buffer (rf_sse_dropped_total) during the row: $((x1 - x0))"
    grep -v '^$' "$TMP/stream.err" | head -n 3 | sed 's/^/      driver stderr: /' || true
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $line"; }
header() {
    printf '    %-10s %-9s %12s %14s %8s %8s %8s %9s %9s %10s\n' events/s runs/s deliveries "deliveries/s" \
        "p50 ms" "p99 ms" "max ms" "rf cpu%" "drv cpu%" frames/write
}

if [[ $SKIP_STREAM == 0 ]]; then
    start_daemon
    per_run=$(curl -fsS --max-time 20 -X POST -H 'Content-Type: application/json' --data-binary '{}' \
        "$RF/v1/workflows/fan/runs?wait=10s" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)
    per_run=$(curl -s --max-time 5 "$RF/v1/runs/$per_run/events" | grep -c '^data: ' || true)
    [[ $per_run -ge 1 ]] || per_run=4
    secs=${DURATION%s}
    IFS=, read -r -a rates <<<"$EVENTS"
    echo
    echo "(b) $SUBS subscribers of /v1/events?workflow=fan over HTTP/1.1 (one connection each), $DURATION per row;"
    echo "    a run makes $per_run events; latency = received - event at_ms (1 ms resolution)"
    header
    for ev in "${rates[@]}"; do
        stream_row "$ev" --sources "$(sources_for "$SUBS")"
    done
    echo
    echo "(c) the same over HTTP/2 (h2c prior knowledge, 100 streams per connection)"
    header
    for ev in "${rates[@]}"; do
        stream_row "$ev" --h2-streams 100
    done
    echo
    echo "    reference: none measured (no peer SSE server in this run); target >= 1,000,000 deliveries/s, p99 <= 50 ms."
    stop_pid "$RF_PID"
fi

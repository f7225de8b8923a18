#!/usr/bin/env bash
# Step concurrency limits over a cluster (issue 14): what it costs to count an http step's
# "concurrency" permits in Redis for every daemon together.
#
# A private PostgreSQL (tools/pg.sh, durability on) and Redis (tools/redis.sh); nginx answers the
# http steps (GET /ok). The workflow: one http step calling nginx with
# "concurrency": {"key": "{{input.k}}", "limit": LIMIT}, its runs spread over KEYS keys. Runs
# are started with ?wait=30s by rf-loadgen (CLIENTS connections, split over the daemons), for
# DURATION seconds each row:
#   unlimited, 1 daemon     the calls without a limit (the reference)
#   limited, 1 daemon       the permits counted on the daemon's home shards
#   unlimited, 2 daemons    the calls without a limit, two daemons sharing the database and Redis
#   limited, 2 daemons      the limit for both together: every permit a lease in Redis
# For the two-daemon limited row: the lease asks per run and how often a daemon was told to
# wait (rf_step_permit_lease_* summed over both daemons).
#
#   bench/permits.sh                      # LIMIT=10 KEYS=4 CLIENTS=120 DURATION=15
#   SKIP_BUILD=1 DURATION=5 bench/permits.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=permits.sh
source "$REPO/bench/lib.sh"
no_args_but_help 17 "$@"
LIMIT=${LIMIT:-10}
KEYS=${KEYS:-4}
CLIENTS=${CLIENTS:-120}
DURATION=${DURATION:-15}
SHARDS=${SHARDS:-2}
for v in LIMIT KEYS CLIENTS DURATION SHARDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "permits.sh: $v must be a positive integer" >&2; exit 2; }
done
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}
prepare_bench

start_bench_with_pg permitsbench
REDIS_DIR="$TMP/redis"
mkdir -p "$REDIS_DIR"
REDIS_URL=$("$REPO/tools/redis.sh" start "$REDIS_DIR")
"$RINGFLOW_BIN" migrate up --database-url "$PG_URL" >/dev/null
NG_PORT=$(free_port)
start_nginx "$TMP/nginx" "$NG_PORT" 1 /ok 'default_type application/json; location /ok { return 200 "{}"; }'

# start_rf NAME [FLAGS...]: a daemon on the database (and Redis); sets PORT_<NAME>, PID_<NAME>.
start_rf() {
    local name=$1 port pid
    shift
    port=$(free_port)
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$port" --data-dir "$TMP/data-$name" --shards "$SHARDS" \
        --store postgres --database-url "$PG_URL" --log-level warn --access-log false \
        "${RF_EGRESS_ARGS[@]}" "$@" 2>>"$TMP/ringflow-$name.log" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$pid" "$port" /health/ready "$TMP/ringflow-$name.log"
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$pid"
}
members() { curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "rf_cluster_members" {print int($2)}'; }
metric() {  # PORT NAME -> the sum of NAME's samples
    curl -s "http://127.0.0.1:$1/metrics" |
        awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.0f", s}'
}
put() {  # PORT NAME LIMIT(0: none)
    local c=""
    (($3 > 0)) && c=",\"concurrency\":{\"key\":\"{{input.k}}\",\"limit\":$3}"
    curl -sf -X PUT "http://127.0.0.1:$1/v1/workflows/$2" -H 'content-type: application/json' \
        -d "{\"steps\":[{\"id\":\"call\",\"type\":\"http\"$c,\"request\":{\"method\":\"GET\",\"url\":\"http://127.0.0.1:$NG_PORT/ok\"}}]}" \
        >/dev/null
}
# The starts' bodies: KEYS keys in turn (rf-loadgen --body-file, one JSON per line).
for ((i = 0; i < KEYS; i++)); do echo "{\"input\":{\"k\":\"key-$i\"}}"; done >"$TMP/bodies"

drive() {  # WORKFLOW PORT... -> "runs/s p99_ms errors" summed (p99: the worse daemon's)
    local wf=$1 n i=0 p pids=()
    shift
    n=$#
    for p in "$@"; do
        "$LOADGEN_BIN" --url "http://127.0.0.1:$p" --path "/v1/workflows/$wf/runs?wait=30s" --method POST \
            --body-file "$TMP/bodies" --clients $((CLIENTS / n)) --duration "$DURATION" --timeout 35s \
            --expect-status 201 --expect-field /status=succeeded >"$TMP/d-$i.out" 2>"$TMP/d-$i.err" &
        pids+=($!)
        i=$((i + 1))
    done
    wait "${pids[@]}" || { echo "permits.sh: rf-loadgen failed: $(cat "$TMP"/d-*.err)" >&2; exit 1; }
    cat "$TMP"/d-*.out | tr ' ' '\n' | awk -F= '
        $1 == "rps" {r += $2} $1 == "p99_ms" && $2 > p {p = $2} $1 == "errors" {e += $2}
        END {printf "%.0f %.2f %d", r, p, e}'
    rm -f "$TMP"/d-*.out "$TMP"/d-*.err
}

echo "== ringflow step concurrency over a cluster =="
echo "date    : $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine : nproc=$(nproc) kernel=$(uname -r)"
echo "ringflow: $("$RINGFLOW_BIN" version 2>/dev/null | head -n 1) shards=$SHARDS per daemon"
echo "store   : postgres $(psql -d "$PG_URL" -Atc 'SHOW server_version'), redis $(redis-server --version | awk '{sub("v=", "", $3); print $3}'), nginx for the calls"
echo "load    : $CLIENTS clients, ${DURATION}s a row, $KEYS keys in turn, limit $LIMIT per key (ideal at most $((KEYS * LIMIT)) calls at once)"
echo "          (daemons, PostgreSQL, Redis, nginx and the driver share the cores)"

PORT_one='' PID_one='' PORT_a='' PORT_b=''  # set by start_rf
start_rf one
put "$PORT_one" lim "$LIMIT"
put "$PORT_one" free 0
read -r u1 u1p u1e <<<"$(drive free "$PORT_one")"
read -r l1 l1p l1e <<<"$(drive lim "$PORT_one")"
stop_pid "$PID_one"

start_rf a --redis-url "$REDIS_URL"
start_rf b --redis-url "$REDIS_URL"
for ((i = 0; i < 100; i++)); do
    [[ $(members "$PORT_a") == 2 && $(members "$PORT_b") == 2 ]] && break
    sleep 0.2
done
put "$PORT_a" lim2 "$LIMIT"
put "$PORT_a" free 0
sleep 1.5  # the other daemon reads the new definitions within a second
asks0=$(($(metric "$PORT_a" rf_step_permit_lease_asks_total) + $(metric "$PORT_b" rf_step_permit_lease_asks_total)))
waits0=$(($(metric "$PORT_a" rf_step_permit_lease_waits_total) + $(metric "$PORT_b" rf_step_permit_lease_waits_total)))
runs0=$(($(metric "$PORT_a" rf_runs_started_total) + $(metric "$PORT_b" rf_runs_started_total)))
read -r l2 l2p l2e <<<"$(drive lim2 "$PORT_a" "$PORT_b")"
asks=$(($(metric "$PORT_a" rf_step_permit_lease_asks_total) + $(metric "$PORT_b" rf_step_permit_lease_asks_total) - asks0))
waits=$(($(metric "$PORT_a" rf_step_permit_lease_waits_total) + $(metric "$PORT_b" rf_step_permit_lease_waits_total) - waits0))
runs=$(($(metric "$PORT_a" rf_runs_started_total) + $(metric "$PORT_b" rf_runs_started_total) - runs0))
errs=$(($(metric "$PORT_a" rf_step_permit_lease_errors_total) + $(metric "$PORT_b" rf_step_permit_lease_errors_total)))
read -r u2 u2p u2e <<<"$(drive free "$PORT_a" "$PORT_b")"

echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
printf '%-36s %10s %10s %8s %14s\n' "row" "runs/s" "p99 ms" "errors" "vs unlimited"
printf '%-36s %10s %10s %8s %14s\n' "unlimited, 1 daemon (reference)" "$u1" "$u1p" "$u1e" "1.00"
printf '%-36s %10s %10s %8s %14s\n' "limited, 1 daemon" "$l1" "$l1p" "$l1e" "$(ratio "$l1" "$u1")"
printf '%-36s %10s %10s %8s %14s\n' "unlimited, 2 daemons" "$u2" "$u2p" "$u2e" "1.00"
printf '%-36s %10s %10s %8s %14s\n' "limited, 2 daemons, leases in Redis" "$l2" "$l2p" "$l2e" "$(ratio "$l2" "$u2")"
echo
echo "limited, 2 daemons: $runs runs, $asks lease asks ($(ratio "$asks" "$runs") a run), $waits told to wait, $errs lease errors"

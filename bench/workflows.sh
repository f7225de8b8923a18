#!/usr/bin/env bash
# Workflow throughput/latency: ringflow runs noop and http workflows, driven by rf-loadgen
# (bench/driver) over keep-alive loopback connections; nginx serves the http steps' endpoint
# and, with the same driver, gives the reference (the driver's ceiling on this machine).
#
#   bench/workflows.sh                    # embedded store (journal in a temp dir)
#   (embedded store: also W3 with --auth off beside --auth on + an API key, alternating rounds)
#   bench/workflows.sh --store=postgres   # PostgreSQL: a private cluster (tools/pg.sh, fsync and
#                                         # synchronous_commit on) and pgbench's one-row TPS beside
#
# Environment (all optional):
#   FSYNC=always|never   the daemon's --fsync                         [always]
#   DURATION=20          seconds of the W3 throughput run             [20]
#   SHORT_DURATION=10    seconds of the F10, W3-http and reference runs [10]
#   CLIENTS=200          concurrent connections of throughput runs    [200]
#   THREADS=1            rf-loadgen reactor threads                   [1]
#   SHARDS=N             ringflow --shards                            [daemon default]
#   NGINX_WORKERS=1      nginx worker_processes                       [1]
#   TRACING=1            also W3 throughput on a second daemon exporting every span (sample
#                        ratio 1) over OTLP to nginx as the sink, printed beside W3  [1]
#   MAP_RUNS=20          runs of the map row (1,000 noop items, concurrency 100, one client) [20]
#   SKIP_BUILD=1         do not run tools/build.sh (binaries already built)
#   RINGFLOW_BIN, LOADGEN_BIN   binaries [build/release/src/app/ringflow,
#                        build/release/bench/driver/rf-loadgen]
#   DATA_ROOT=DIR        where the temporary data directory goes ($TMPDIR or /tmp); put it on
#                        the disk you want measured, fsync on tmpfs measures nothing
#
# Everything listens on and talks to 127.0.0.1 only; the processes this script starts are
# stopped by PID on exit. Daemon, nginx and driver share this machine's cores.
set -euo pipefail

usage() {
    sed -n '2,27s/^# \{0,1\}//p' "$0"
}
STORE=embedded
case ${1:-} in
    -h | --help) usage; exit 0 ;;
    "" | --store=embedded) ;;
    --store=postgres) STORE=postgres ;;
    *) echo "workflows.sh: unknown argument ${1} (see --help)" >&2; exit 2 ;;
esac

FSYNC=${FSYNC:-always}
DURATION=${DURATION:-20}
SHORT_DURATION=${SHORT_DURATION:-10}
CLIENTS=${CLIENTS:-200}
THREADS=${THREADS:-1}
SHARDS=${SHARDS:-}
NGINX_WORKERS=${NGINX_WORKERS:-1}
TRACING=${TRACING:-1}
LAT_RUNS=2000
HTTP_LAT_RUNS=1000
MAP_RUNS=${MAP_RUNS:-20}

[[ $FSYNC == always || $FSYNC == never ]] || { echo "workflows.sh: FSYNC must be always or never" >&2; exit 2; }
for v in DURATION SHORT_DURATION CLIENTS THREADS NGINX_WORKERS MAP_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "workflows.sh: $v must be a positive integer" >&2; exit 2; }
done
[[ -z $SHARDS || $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "workflows.sh: bad SHARDS" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}

# ------------------------------------------------------------------ tools and build
prepare_bench

# ------------------------------------------------------------------ processes
TMP=$(mktemp -d "${DATA_ROOT:-${TMPDIR:-/tmp}}/rf-wfbench.XXXXXX")
trap cleanup_bench EXIT
trap 'exit 130' INT TERM

# nginx: /ok is the http steps' endpoint and the reference's target; /v1/traces is the OTLP
# sink of the tracing row (it accepts every export request and drops the spans).
NG_PORT=$(free_port)
start_nginx "$TMP/nginx" "$NG_PORT" "$NGINX_WORKERS" /ok \
    "default_type application/json; location /ok { return 200 '{\"ok\":true}'; } location /v1/traces { client_max_body_size 16m; return 200 '{}'; }"

RF_VERSION=$("$RINGFLOW_BIN" version 2>/dev/null | head -n 1 || echo '?')
RF_PORT=$(free_port)
rf_args=(serve --listen "127.0.0.1:$RF_PORT" --data-dir "$TMP/data" --log-level warn --access-log false
    --fsync "$FSYNC" "${RF_EGRESS_ARGS[@]}")
PG_URL=""
if [[ $STORE == postgres ]]; then
    # A private cluster with its durability settings left on (PG_FAST unset): the bench
    # measures commits that survive a power cut, as the embedded store's fsync=always does.
    PG_DIR="$TMP/pg"
    mkdir -p "$PG_DIR"
    chmod 755 "$TMP"  # the cluster runs as the postgres user (tools/pg.sh): it must reach PG_DIR
    PG_URL=$(env -u PG_FAST "$REPO/tools/pg.sh" start "$PG_DIR")
    rf_args+=(--store postgres --database-url "$PG_URL" --migrate true)
fi
[[ -n $SHARDS ]] && rf_args+=(--shards "$SHARDS")
mkdir -p "$TMP/data"
"$RINGFLOW_BIN" "${rf_args[@]}" 2>"$TMP/ringflow.log" &
RF_PID=$!
PIDS+=("$RF_PID")
wait_ready "$RF_PID" "$RF_PORT" /health/ready "$TMP/ringflow.log"
RF=http://127.0.0.1:$RF_PORT
RF_TRACED=""
if [[ $TRACING == 1 && $STORE == embedded ]]; then
    # The same daemon settings plus tracing, on its own data dir; idle while the other one runs.
    RF2_PORT=$(free_port)
    mkdir -p "$TMP/data-traced"
    traced_args=("${rf_args[@]}")
    traced_args[2]="127.0.0.1:$RF2_PORT"
    traced_args[4]="$TMP/data-traced"
    "$RINGFLOW_BIN" "${traced_args[@]}" --otlp-endpoint "http://127.0.0.1:$NG_PORT/v1/traces" \
        --otlp-sample-ratio 1 2>"$TMP/ringflow-traced.log" &
    RF2_PID=$!
    PIDS+=("$RF2_PID")
    wait_ready "$RF2_PID" "$RF2_PORT" /health/ready "$TMP/ringflow-traced.log"
    RF_TRACED=http://127.0.0.1:$RF2_PORT
fi

# ------------------------------------------------------------------ header
cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "== ringflow workflow bench =="
echo "date    : $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine : nproc=$(nproc) kernel=$(uname -r) cpu=\"${cpu_model:-unknown}\""
echo "ringflow: $RF_VERSION ($RINGFLOW_BIN) shards=${SHARDS:-default}"
if [[ $STORE == postgres ]]; then
    pg_settings=$(psql -d "$PG_URL" -Atc "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','wal_sync_method','shared_buffers')")
    echo "store   : postgres $(psql -d "$PG_URL" -Atc 'SHOW server_version'), same machine, $pg_settings"
else
    echo "store   : embedded, fsync=$FSYNC, data dir on $(stat -f -c %T "$TMP/data") ($TMP)"
fi
echo "nginx   : $(nginx -v 2>&1 | sed 's/^nginx version: //') workers=$NGINX_WORKERS"
echo "driver  : rf-loadgen threads=$THREADS, closed loop, keep-alive; latency = send -> full response"
echo "settings: clients=$CLIENTS duration=${DURATION}s short_duration=${SHORT_DURATION}s (driver, daemon and nginx share the cores)"

# ------------------------------------------------------------------ workflows
W3='{"steps":[{"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]},{"id":"c","type":"noop","depends_on":["b"]}]}'
F10='{"steps":[{"id":"root","type":"noop"}'
for i in 1 2 3 4 5 6 7 8; do
    F10+=",{\"id\":\"p$i\",\"type\":\"noop\",\"depends_on\":[\"root\"]}"
done
F10+=',{"id":"join","type":"noop","depends_on":["p1","p2","p3","p4","p5","p6","p7","p8"]}]}'
HTTP_STEP="\"type\":\"http\",\"request\":{\"method\":\"POST\",\"url\":\"http://127.0.0.1:$NG_PORT/ok\"}"
W3HTTP="{\"steps\":[{\"id\":\"a\",$HTTP_STEP},{\"id\":\"b\",$HTTP_STEP,\"depends_on\":[\"a\"]},{\"id\":\"c\",$HTTP_STEP,\"depends_on\":[\"b\"]}]}"

# A sub-workflow chain of depth 3: sub3's workflow step runs sub2, whose runs sub1 (one noop);
# one start is 3 runs (each creation and end durable) and 3 steps.
SUB1='{"steps":[{"id":"a","type":"noop"}]}'
SUB2='{"steps":[{"id":"a","type":"workflow","workflow":"sub1"}]}'
SUB3='{"steps":[{"id":"a","type":"workflow","workflow":"sub2"}]}'

# A map step over 1,000 literal items, 100 in flight, a noop per item: each item's end is one
# durable record; one run is 1,000 items (the steps/s column of its row is items/s).
MAP1K="{\"steps\":[{\"id\":\"m\",\"type\":\"map\",\"items\":[$(seq -s, 0 999)],\"concurrency\":100,\"step\":{\"type\":\"noop\"}}]}"

declare -A STEPS=([w3]=3 [f10]=10 [w3http]=3 [sub3]=3 [map1k]=1000)
declare -A READY=()
SKIPPED=0

# register NAME JSON: PUT, then one run with ?wait to check it succeeds.
CURL_AUTH=()
register() {
    local name=$1 def=$2 code status
    code=$(curl -s "${CURL_AUTH[@]}" -o "$TMP/put-$name.json" -w '%{http_code}' --max-time 10 -X PUT \
        -H 'Content-Type: application/json' --data-binary "$def" "$RF/v1/workflows/$name" || true)
    if [[ $code != 200 && $code != 201 ]]; then
        echo "workflows.sh: PUT /v1/workflows/$name -> ${code:-no answer}: $(head -c 300 "$TMP/put-$name.json" 2>/dev/null)" >&2
        return 1
    fi
    code=$(curl -s "${CURL_AUTH[@]}" -o "$TMP/run-$name.json" -w '%{http_code}' --max-time 40 -X POST \
        -H 'Content-Type: application/json' --data-binary '{"input":{"n":1}}' \
        "$RF/v1/workflows/$name/runs?wait=30s" || true)
    status=$(jq -r '.status // empty' "$TMP/run-$name.json" 2>/dev/null || true)
    if [[ ($code != 200 && $code != 201) || $status != succeeded ]]; then
        echo "workflows.sh: a $name run -> ${code:-no answer} status=${status:-?}: $(head -c 300 "$TMP/run-$name.json" 2>/dev/null)" >&2
        return 1
    fi
    READY[$name]=1
}

register w3 "$W3" || true
if [[ -n $RF_TRACED ]]; then
    curl -s -o /dev/null --max-time 10 -X PUT -H 'Content-Type: application/json' --data-binary "$W3" \
        "$RF_TRACED/v1/workflows/w3" || true
fi
register f10 "$F10" || true
register w3http "$W3HTTP" || true
if register sub1 "$SUB1" && register sub2 "$SUB2"; then register sub3 "$SUB3" || true; fi
register map1k "$MAP1K" || true

# ------------------------------------------------------------------ runs
declare -A R=()
ORDER=()
declare -A LABEL=(
    [w3_lat]="W3 latency" [w3_tput]="W3 throughput" [f10_tput]="F10 throughput"
    [w3http_lat]="W3-http latency" [w3http_tput]="W3-http throughput" [ref]="ref: nginx GET /ok"
    [w3_auth_off]="W3 tput, auth off" [w3_auth_key]="W3 tput, API key"
    [tmp_w3_auth_off]="W3 tput, auth off" [tmp_w3_auth_key]="W3 tput, API key"
    [w3_tput_traced]="W3 tput, tracing" [sub3_lat]="sub-wf depth 3 lat" [map1k]="map 1k items c100"
)

# drive ROW CLIENTS (--runs N | --duration S) [rf-loadgen args...]: one measurement into R[ROW,*].
drive() {
    local row=$1 clients=$2 line kv
    shift 2
    ORDER+=("$row")
    R[$row,clients]=$clients
    if ! line=$("$LOADGEN_BIN" --threads "$THREADS" --clients "$clients" "$@" 2>"$TMP/$row.err"); then
        echo "workflows.sh: ${LABEL[$row]}: rf-loadgen failed: $(tr '\n' ' ' <"$TMP/$row.err")" >&2
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    for kv in $line; do
        R[$row,${kv%%=*}]=${kv#*=}
    done
    if [[ ${R[$row,errors]:-0} != 0 ]]; then
        echo "  ${LABEL[$row]}: ${R[$row,errors]} errors: $(tr '\n' ' ' <"$TMP/$row.err")" >&2
    fi
    echo "  done: ${LABEL[$row]} -> $line" >&2
}

# run_wf ROW NAME CLIENTS (--runs N | --duration S): POST /v1/workflows/NAME/runs?wait=30s.
run_wf() {
    local row=$1 name=$2 clients=$3
    shift 3
    R[$row,steps]=${STEPS[$name]}
    if [[ -z ${READY[$name]:-} ]]; then
        ORDER+=("$row")
        R[$row,clients]=$clients
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    drive "$row" "$clients" --url "$RF" --path "/v1/workflows/$name/runs?wait=30s" --method POST \
        --body '{"input":{"n":1}}' --expect-status 200,201 --expect-field /status=succeeded \
        --timeout 35s "$@"
}

# Prometheus histogram rf_step_hop_seconds, summed over labels: "le count" lines.
hop_snapshot() {
    curl -s --max-time 5 "$RF/metrics" 2>/dev/null | awk '
        /^rf_step_hop_seconds_bucket[{ ]/ {
            if (match($0, /le="[^"]*"/)) {
                le = substr($0, RSTART + 4, RLENGTH - 5)
                sum[le] += $NF
            }
        }
        END { for (le in sum) print le, sum[le] }' || true
}

# hop_quantiles BEFORE AFTER -> "p50_ms p99_ms" over the runs between the two snapshots
# (linear interpolation inside a bucket, as histogram_quantile does), or "n/a n/a".
hop_quantiles() {
    awk '
        function q(p,   rank, i, prev_le, prev_c) {
            rank = p * total; prev_le = 0; prev_c = 0
            for (i = 1; i <= n; i++) {
                if (c[i] >= rank) {
                    if (les[i] == "+Inf") return sprintf(">%.3f", prev_le * 1000)
                    if (c[i] == prev_c) return sprintf("%.3f", les[i] * 1000)
                    return sprintf("%.3f", (prev_le + (les[i] - prev_le) * (rank - prev_c) / (c[i] - prev_c)) * 1000)
                }
                prev_le = les[i]; prev_c = c[i]
            }
            return "n/a"
        }
        FILENAME == ARGV[1] { before[$1] = $2; next }
        { after[$1] = $2 - before[$1] }
        END {
            n = 0
            for (le in after) { n++; les[n] = le }
            # insertion sort by numeric le, +Inf last
            for (i = 2; i <= n; i++) {
                v = les[i]
                for (j = i - 1; j >= 1 && (les[j] == "+Inf" || (v != "+Inf" && les[j] + 0 > v + 0)); j--) les[j + 1] = les[j]
                les[j + 1] = v
            }
            for (i = 1; i <= n; i++) c[i] = after[les[i]]
            total = (n > 0) ? c[n] : 0
            if (n == 0 || les[n] != "+Inf" || total <= 0) { print "n/a n/a"; exit }
            print q(0.50), q(0.99)
        }' "$1" "$2"
}

# measure_hops ROW: hop quantiles since the previous call.
HOP_PREV=$TMP/hop-0.txt
hop_snapshot >"$HOP_PREV"
measure_hops() {
    local row=$1 next=$TMP/hop-$1.txt p50 p99
    hop_snapshot >"$next"
    read -r p50 p99 < <(hop_quantiles "$HOP_PREV" "$next")
    R[$row,hop_p50]=$p50
    R[$row,hop_p99]=$p99
    HOP_PREV=$next
}

echo >&2
if [[ -n ${READY[w3]:-} ]]; then  # warm-up: connections, allocator, journal segments
    "$LOADGEN_BIN" --url "$RF" --path '/v1/workflows/w3/runs?wait=30s' --method POST \
        --body '{"input":{"n":1}}' --clients 50 --duration 2 --timeout 35s >/dev/null 2>&1 || true
    hop_snapshot >"$HOP_PREV"
fi
run_wf w3_lat w3 1 --runs "$LAT_RUNS"
measure_hops w3_lat
run_wf w3_tput w3 "$CLIENTS" --duration "$DURATION"
measure_hops w3_tput
TRACE_LINE=""
if [[ -n $RF_TRACED && -n ${READY[w3]:-} ]]; then
    "$LOADGEN_BIN" --url "$RF_TRACED" --path '/v1/workflows/w3/runs?wait=30s' --method POST \
        --body '{"input":{"n":1}}' --clients 50 --duration 2 --timeout 35s >/dev/null 2>&1 || true
    R[w3_tput_traced,steps]=3
    drive w3_tput_traced "$CLIENTS" --url "$RF_TRACED" --path "/v1/workflows/w3/runs?wait=30s" --method POST \
        --body '{"input":{"n":1}}' --expect-status 200,201 --expect-field /status=succeeded \
        --timeout 35s --duration "$DURATION"
    sleep 2  # the exporters' last batches
    TRACE_LINE=$(curl -s --max-time 5 "$RF_TRACED/metrics" | awk '
        /^rf_trace_spans_total[{]/ { match($0, /outcome="[a-z]*"/); o = substr($0, RSTART + 9, RLENGTH - 10); s[o] += $NF }
        END { printf "exported=%d dropped=%d failed=%d", s["exported"], s["dropped"], s["failed"] }')
    kill "$RF2_PID" 2>/dev/null || true  # idle from here on: it must not share the cores
fi
run_wf f10_tput f10 "$CLIENTS" --duration "$SHORT_DURATION"
measure_hops f10_tput
run_wf w3http_lat w3http 1 --runs "$HTTP_LAT_RUNS"
measure_hops w3http_lat
run_wf sub3_lat sub3 1 --runs "$LAT_RUNS"
measure_hops sub3_lat
run_wf w3http_tput w3http "$CLIENTS" --duration "$SHORT_DURATION"
measure_hops w3http_tput
run_wf map1k map1k 1 --runs "$MAP_RUNS"
measure_hops map1k
kill -0 "$RF_PID" 2>/dev/null || echo "WARNING: ringflow is no longer running (crashed under load?)"

# ------------------------------------------------------------------ authentication cost
# W3 on a second daemon with --auth on and an API key on every start, beside the first daemon
# (auth off) in alternating rounds, the best of each kept (both daemons stay up; only the one
# driven works). Embedded store only: a second daemon on the same PostgreSQL database would
# join the first one's cluster.
AUTH_NOTE=""
if [[ $STORE == embedded && -n ${READY[w3]:-} ]]; then
    ADMIN_KEY=bench-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    AUTH_PORT=$(free_port)
    auth_args=("${rf_args[@]}")
    for i in "${!auth_args[@]}"; do
        [[ ${auth_args[$i]} == "127.0.0.1:$RF_PORT" ]] && auth_args[i]="127.0.0.1:$AUTH_PORT"
        [[ ${auth_args[$i]} == "$TMP/data" ]] && auth_args[i]="$TMP/data-auth"
    done
    mkdir -p "$TMP/data-auth"
    RINGFLOW_ADMIN_KEY=$ADMIN_KEY "$RINGFLOW_BIN" "${auth_args[@]}" --auth on 2>"$TMP/ringflow-auth.log" &
    AUTH_PID=$!
    PIDS+=("$AUTH_PID")
    wait_ready "$AUTH_PID" "$AUTH_PORT" /health/ready "$TMP/ringflow-auth.log"
    API_KEY=$(curl -fsS -X POST "http://127.0.0.1:$AUTH_PORT/v1/keys" -H "Authorization: Bearer $ADMIN_KEY" \
        -H 'Content-Type: application/json' --data-binary '{"name":"bench","role":"developer"}' |
        jq -r '.key // empty')
    [[ -n $API_KEY ]] || { echo "workflows.sh: could not create an API key" >&2; exit 1; }
    MAIN_RF=$RF
    RF=http://127.0.0.1:$AUTH_PORT
    CURL_AUTH=(-H "Authorization: Bearer $API_KEY")
    unset 'READY[w3]'
    register w3 "$W3" || true
    AUTH_READY=${READY[w3]:-}
    READY[w3]=1
    RF=$MAIN_RF
    if [[ -n $AUTH_READY ]]; then
        declare -A BEST=()
        for _ in 1 2; do
            for variant in off key; do
                row=w3_auth_$variant
                if [[ $variant == key ]]; then
                    RF=http://127.0.0.1:$AUTH_PORT
                    run_wf "tmp_$row" w3 "$CLIENTS" --duration "$SHORT_DURATION" --header "Authorization: Bearer $API_KEY"
                    RF=$MAIN_RF
                else
                    run_wf "tmp_$row" w3 "$CLIENTS" --duration "$SHORT_DURATION"
                fi
                unset 'ORDER[${#ORDER[@]}-1]'
                if awk -v a="${R[tmp_$row,rps]:-0}" -v b="${BEST[$row]:-0}" 'BEGIN { exit !(a > b) }'; then
                    BEST[$row]=${R[tmp_$row,rps]}
                    for f in clients steps requests errors rps p50_ms p95_ms p99_ms max_ms; do
                        R[$row,$f]=${R[tmp_$row,$f]:-}
                    done
                fi
            done
        done
        ORDER+=(w3_auth_off w3_auth_key)
        AUTH_NOTE=$(awk -v a="${BEST[w3_auth_key]:-0}" -v b="${BEST[w3_auth_off]:-0}" \
            'BEGIN { if (b > 0) printf "API key / auth off = %.3f (target >= 0.95)", a / b }')
    else
        echo "workflows.sh: the --auth on daemon did not run w3" >&2
        SKIPPED=$((SKIPPED + 1))
    fi
    kill -0 "$AUTH_PID" 2>/dev/null || echo "WARNING: ringflow --auth on is no longer running"
fi

drive ref "$CLIENTS" --url "http://127.0.0.1:$NG_PORT/ok" --expect-status 200 \
    --duration "$SHORT_DURATION"

PGBENCH_LINE=""
if [[ $STORE == postgres ]]; then
    # The ceiling of an engine that commits each transition on its own: one-row JSONB
    # inserts, one transaction each, as many clients as the cores can use well.
    psql -d "$PG_URL" -q -c "CREATE TABLE IF NOT EXISTS bench_transitions (id bigserial PRIMARY KEY, data jsonb NOT NULL)"
    printf '%s\n' "INSERT INTO bench_transitions (data) VALUES ('{\"run\":\"r\",\"step\":\"a\",\"status\":\"succeeded\"}');" >"$TMP/pgbench.sql"
    if pgb=$(pgbench -n -f "$TMP/pgbench.sql" -c 32 -j 2 -T "$SHORT_DURATION" "$PG_URL" 2>&1); then
        PGBENCH_LINE=$(grep -E '^tps' <<<"$pgb" | head -n 1)
    else
        PGBENCH_LINE="pgbench failed: $(tail -n 2 <<<"$pgb" | tr '\n' ' ')"
    fi
fi

# ------------------------------------------------------------------ table
na() { [[ -n ${1:-} ]] && echo "$1" || echo n/a; }
echo
printf '%-18s | %7s | %8s | %6s | %9s | %10s | %9s | %9s | %9s | %9s | %9s | %9s\n' \
    scenario clients requests errors "wf|req/s" "steps/s" "p50 ms" "p95 ms" "p99 ms" "max ms" "hop p50" "hop p99"
printf '%s\n' "-------------------+---------+----------+--------+-----------+------------+-----------+-----------+-----------+-----------+-----------+----------"
for row in "${ORDER[@]}"; do
    rps=${R[$row,rps]:-}
    steps_s=""
    if [[ -n $rps && -n ${R[$row,steps]:-} ]]; then
        steps_s=$(awk -v r="$rps" -v s="${R[$row,steps]}" 'BEGIN { printf "%.0f", r * s }')
    fi
    [[ -n $rps ]] && rps=$(awk -v r="$rps" 'BEGIN { printf "%.0f", r }')
    printf '%-18s | %7s | %8s | %6s | %9s | %10s | %9s | %9s | %9s | %9s | %9s | %9s\n' \
        "${LABEL[$row]}" "${R[$row,clients]}" "$(na "${R[$row,requests]:-}")" "$(na "${R[$row,errors]:-}")" \
        "$(na "$rps")" "$(na "$steps_s")" "$(na "${R[$row,p50_ms]:-}")" "$(na "${R[$row,p95_ms]:-}")" \
        "$(na "${R[$row,p99_ms]:-}")" "$(na "${R[$row,max_ms]:-}")" \
        "$(na "${R[$row,hop_p50]:-}")" "$(na "${R[$row,hop_p99]:-}")"
done
echo
echo "wf|req/s: workflow runs (or, for the reference, requests) completed per second with the"
echo "expected status (and run status succeeded); steps/s = wf/s x steps per workflow (3 or 10)."
echo "sub-wf depth 3 lat: a workflow step running a workflow step running a noop (3 runs per"
echo "start), start -> result at one client (p50/p99 beside W3 latency)."
if [[ -n ${R[map1k,rps]:-} && -n ${R[w3_tput,rps]:-} ]]; then
    awk -v m="${R[map1k,rps]}" -v w="${R[w3_tput,rps]}" 'BEGIN {
        printf "map 1k items c100: one run at a time, %.0f items/s (steps/s column) beside W3 throughput %.0f steps/s\n", m * 1000, w * 3 }'
fi
echo "hop: rf_step_hop_seconds from /metrics over that scenario (n/a if the daemon has no such"
echo "histogram). ref: the same driver against nginx, its ceiling here."
if [[ -n $AUTH_NOTE ]]; then
    echo "auth: W3 throughput, ${SHORT_DURATION}s rounds alternating between a daemon with --auth off and one"
    echo "with --auth on and an API key on every start, best of 2 each: $AUTH_NOTE"
fi
if [[ -n $TRACE_LINE ]]; then
    echo "W3 tput, tracing: W3 throughput on a second daemon with --otlp-endpoint (nginx as the sink,"
    echo "every trace sampled: 4 spans per run); its rf_trace_spans_total: $TRACE_LINE"
fi
if [[ $STORE == postgres ]]; then
    echo
    echo "ref: pgbench, one-row JSONB insert per transaction, 32 clients, ${SHORT_DURATION}s, same cluster:"
    echo "  $PGBENCH_LINE"
    if [[ -n ${R[w3_tput,rps]:-} ]]; then
        awk -v r="${R[w3_tput,rps]}" 'BEGIN { printf "  W3 throughput = %.0f state transitions/s (8 records per run: created, 3 x started+succeeded, finished)\n", r * 8 }'
    fi
fi
if [[ $SKIPPED -gt 0 ]]; then
    echo
    echo "workflows.sh: $SKIPPED scenario(s) not measured (see messages above)" >&2
    exit 1
fi

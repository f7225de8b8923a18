#!/usr/bin/env bash
# History bench (issue 10): finished runs leave memory for the history store. Loads W3 until
# RUNS finished runs are retained and measures, in one run of this script: W3 throughput over
# the whole load beside the short-run figure (20 s on a fresh data dir, measured first), W3
# latency over the load, the daemon's RSS during the load (end, max, spread over the last half),
# disk use; reads of old runs, listings and dead-letter, idle and under W3 load, beside nginx GET
# /ok read the same way (the floor), and W3's p99 with and without those readers; restart time
# (kill -9 with LIVE_RUNS live delay runs, exec -> first 200 from /health/ready); nginx GET /ok
# with the same driver as the reference.
#
#   bench/history.sh                    # embedded store, fsync on, 2 shards, 10,000,000 runs
#   bench/history.sh --store=postgres   # private PostgreSQL (tools/pg.sh, durability on), 1,000,000
#   RUNS=20000 SHORT_DURATION=10 READ_DURATION=5 RSS_INTERVAL=1 SKIP_BUILD=1 bench/history.sh
#                                       # a quick end-to-end check of the script (not a figure)
#
# Environment (all optional):
#   RUNS=N               finished runs retained at the end of the load [10000000; postgres 1000000]
#   CLIENTS=200          concurrent connections of the W3 load and throughput runs    [200]
#   SHORT_DURATION=20    seconds of the short run (fresh data dir, the reference)     [20]
#   READ_DURATION=10     seconds of each read scenario, W3 with/without readers, nginx [10]
#   READ_ROUNDS=2        rounds of "W3 alone, then W3 with the readers", alternating   [2]
#   READ_RATE=200        requests per second of each reader, paced (rf-loadgen --rate;
#                        latency from each request's scheduled time); 0: closed loop  [200]
#   READ_CLIENTS=4       connections of each reader (paced: the rate is shared)      [4]
#   FAILED_RUNS=1000     failing runs (an http step answered 400) started before the load, so
#                        that dead-letter has entries older than every W3 run          [1000]
#   LIVE_RUNS=10000      delay runs (LIVE_DELAY_MS) live at the kill -9               [10000]
#   LIVE_DELAY_MS=600000 their delay step                                             [600000]
#   ID_SAMPLE=100000     run ids of the load kept for the reads (spread over the load) [100000]
#   RSS_INTERVAL=5       seconds between RSS samples                                   [5]
#   MAX_LOAD=21600       seconds after which the load stops even if RUNS is not reached [21600]
#   RESTART_TIMEOUT=600  seconds the restart may take before the script gives up      [600]
#   HISTORY_CACHE=64MiB  --history-cache, passed only if `ringflow --help` lists it    [64MiB]
#   FSYNC=always         the daemon's --fsync                                          [always]
#   SHARDS=2             ringflow --shards                                             [2]
#   THREADS=1            rf-loadgen reactor threads                                    [1]
#   NGINX_WORKERS=1      nginx worker_processes                                        [1]
#   SKIP_BUILD=1         do not run tools/build.sh (binaries already built)
#   RINGFLOW_BIN, LOADGEN_BIN   binaries [build/release/src/app/ringflow,
#                        build/release/bench/driver/rf-loadgen]
#   DATA_ROOT=DIR        where the temporary data directory goes ($TMPDIR or /tmp); put it on
#                        the disk you want measured (10M runs take gigabytes; fsync on tmpfs
#                        measures nothing)
#
# The full load takes many minutes (RUNS / throughput): it is a bench, not a test. Everything
# listens on and talks to 127.0.0.1 only; the processes this script starts are stopped by PID on
# exit. Daemon, nginx and driver share this machine's cores.
set -euo pipefail

usage() {
    sed -n '2,42s/^# \{0,1\}//p' "$0"
}
STORE=embedded
case ${1:-} in
    -h | --help) usage; exit 0 ;;
    "" | --store=embedded) ;;
    --store=postgres) STORE=postgres ;;
    *) echo "history.sh: unknown argument ${1} (see --help)" >&2; exit 2 ;;
esac

if [[ $STORE == postgres ]]; then RUNS=${RUNS:-1000000}; else RUNS=${RUNS:-10000000}; fi
CLIENTS=${CLIENTS:-200}
SHORT_DURATION=${SHORT_DURATION:-20}
READ_DURATION=${READ_DURATION:-10}
READ_ROUNDS=${READ_ROUNDS:-2}
READ_RATE=${READ_RATE:-200}
READ_CLIENTS=${READ_CLIENTS:-4}
FAILED_RUNS=${FAILED_RUNS:-1000}
LIVE_RUNS=${LIVE_RUNS:-10000}
LIVE_DELAY_MS=${LIVE_DELAY_MS:-600000}
ID_SAMPLE=${ID_SAMPLE:-100000}
RSS_INTERVAL=${RSS_INTERVAL:-5}
MAX_LOAD=${MAX_LOAD:-21600}
RESTART_TIMEOUT=${RESTART_TIMEOUT:-600}
HISTORY_CACHE=${HISTORY_CACHE:-64MiB}
FSYNC=${FSYNC:-always}
SHARDS=${SHARDS:-2}
THREADS=${THREADS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-1}
WAIT_TIMEOUT=35s  # rf-loadgen's per-request bound for ?wait=30s starts

[[ $FSYNC == always || $FSYNC == never ]] || { echo "history.sh: FSYNC must be always or never" >&2; exit 2; }
for v in RUNS CLIENTS SHORT_DURATION READ_DURATION READ_CLIENTS FAILED_RUNS LIVE_RUNS LIVE_DELAY_MS ID_SAMPLE \
    RSS_INTERVAL MAX_LOAD RESTART_TIMEOUT SHARDS THREADS NGINX_WORKERS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "history.sh: $v must be a positive integer" >&2; exit 2; }
done
[[ $READ_RATE =~ ^(0|[1-9][0-9]*)$ ]] || { echo "history.sh: READ_RATE must be 0 or a positive integer" >&2; exit 2; }
((MAX_LOAD <= 86400)) || { echo "history.sh: MAX_LOAD is at most 86400 (rf-loadgen's bound)" >&2; exit 2; }
[[ $HISTORY_CACHE =~ ^[0-9A-Za-z]+$ ]] || { echo "history.sh: bad HISTORY_CACHE" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}

# ------------------------------------------------------------------ tools and build
prepare_bench
if ! "$LOADGEN_BIN" --help | grep -q -- --save-field; then
    echo "history.sh: $LOADGEN_BIN has no --save-field/--path-file: rebuild it" >&2
    exit 1
fi

# ------------------------------------------------------------------ processes
TMP=$(mktemp -d "${DATA_ROOT:-${TMPDIR:-/tmp}}/rf-histbench.XXXXXX")
# Private copies: the restart runs the very binary the load ran, even if a build replaces it.
mkdir -p "$TMP/bin"
cp "$RINGFLOW_BIN" "$TMP/bin/ringflow"
cp "$LOADGEN_BIN" "$TMP/bin/rf-loadgen"
RINGFLOW_SRC=$RINGFLOW_BIN
RINGFLOW_BIN=$TMP/bin/ringflow
LOADGEN_BIN=$TMP/bin/rf-loadgen
trap cleanup_bench EXIT
trap 'exit 130' INT TERM

# nginx: /ok is the reference's target, /fail (400) fails the http step of the `wfail` runs.
NG_PORT=$(free_port)
start_nginx "$TMP/nginx" "$NG_PORT" "$NGINX_WORKERS" /ok \
    "default_type application/json; location /ok { return 200 '{\"ok\":true}'; } location /fail { return 400 '{\"error\":\"bench\"}'; }"

HISTORY_ARGS=()
if "$RINGFLOW_BIN" --help 2>&1 | grep -c -- '--history-cache' >/dev/null; then  # not -q: an early exit kills the writer (pipefail)
    HISTORY_ARGS=(--history-cache "$HISTORY_CACHE")
fi
RF_VERSION=$("$RINGFLOW_BIN" version 2>/dev/null | head -n 1 || echo '?')
RF_PORT=$(free_port)
RF=http://127.0.0.1:$RF_PORT
PG_URL=""
if [[ $STORE == postgres ]]; then
    # A private cluster with its durability settings left on (PG_FAST unset), as workflows.sh.
    PG_DIR="$TMP/pg"
    mkdir -p "$PG_DIR"
    chmod 755 "$TMP"  # the cluster runs as the postgres user (tools/pg.sh): it must reach PG_DIR
    PG_URL=$(env -u PG_FAST "$REPO/tools/pg.sh" start "$PG_DIR")
fi

# start_daemon DATA_DIR DATABASE_URL: ringflow on RF_PORT (log appended to $TMP/ringflow.log);
# sets RF_PID and RF_EXEC_NS (the clock just before the exec). Does not wait for readiness.
start_daemon() {
    local dir=$1 url=$2 level=${3:-warn} args
    args=(serve --listen "127.0.0.1:$RF_PORT" --data-dir "$dir" --log-level "$level" --access-log false
        --fsync "$FSYNC" --shards "$SHARDS" "${HISTORY_ARGS[@]}" "${RF_EGRESS_ARGS[@]}")
    [[ $STORE == postgres ]] && args+=(--store postgres --database-url "$url" --migrate true)
    mkdir -p "$dir"
    echo "--- $(date -u +%H:%M:%S) start: ringflow ${args[*]}" >>"$TMP/ringflow.log"
    RF_EXEC_NS=$(date +%s%N)
    "$RINGFLOW_BIN" "${args[@]}" 2>>"$TMP/ringflow.log" &
    RF_PID=$!
    PIDS+=("$RF_PID")
}

# ------------------------------------------------------------------ header
cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "== ringflow history bench =="
echo "date    : $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine : nproc=$(nproc) kernel=$(uname -r) cpu=\"${cpu_model:-unknown}\" mem=$(awk '/^MemTotal/ {printf "%.1fGiB", $2 / 1048576}' /proc/meminfo)"
echo "ringflow: $RF_VERSION ($RINGFLOW_SRC) shards=$SHARDS retention=daemon default"
if [[ ${#HISTORY_ARGS[@]} -gt 0 ]]; then
    echo "history : --history-cache $HISTORY_CACHE"
else
    echo "history : this binary has no --history-cache (not in --help): not passed"
fi
if [[ $STORE == postgres ]]; then
    pg_settings=$(psql -d "$PG_URL" -Atc "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','wal_sync_method','shared_buffers')")
    echo "store   : postgres $(psql -d "$PG_URL" -Atc 'SHOW server_version'), same machine, $pg_settings"
else
    echo "store   : embedded, fsync=$FSYNC, data dir on $(stat -f -c %T "$TMP") ($TMP)"
fi
echo "nginx   : $(nginx -v 2>&1 | sed 's/^nginx version: //') workers=$NGINX_WORKERS"
echo "driver  : rf-loadgen threads=$THREADS, closed loop, keep-alive; latency = send -> full response"
echo "settings: runs=$RUNS clients=$CLIENTS short=${SHORT_DURATION}s reads=${READ_DURATION}s read_rate=${READ_RATE}/s read_clients=$READ_CLIENTS failed_runs=$FAILED_RUNS live_runs=$LIVE_RUNS (delay ${LIVE_DELAY_MS}ms) id_sample=$ID_SAMPLE rss_every=${RSS_INTERVAL}s"
echo "          (driver, daemon and nginx share the cores)"

# ------------------------------------------------------------------ workflows and helpers
W3='{"steps":[{"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]},{"id":"c","type":"noop","depends_on":["b"]}]}'
WFAIL="{\"steps\":[{\"id\":\"call\",\"type\":\"http\",\"request\":{\"method\":\"POST\",\"url\":\"http://127.0.0.1:$NG_PORT/fail\"},\"retry\":{\"max_attempts\":1}}]}"
WLIVE="{\"steps\":[{\"id\":\"wait\",\"type\":\"delay\",\"ms\":$LIVE_DELAY_MS}]}"
W3_PATH='/v1/workflows/w3/runs?wait=30s'
LIST_PATH='/v1/runs?workflow=w3&limit=20'
DEAD_PATH='/v1/dead-letter?limit=10'
SKIPPED=0

# register NAME JSON: PUT /v1/workflows/NAME.
register() {
    local name=$1 def=$2 code
    code=$(curl -s -o "$TMP/put-$name.json" -w '%{http_code}' --max-time 10 -X PUT \
        -H 'Content-Type: application/json' --data-binary "$def" "$RF/v1/workflows/$name" || true)
    if [[ $code != 200 && $code != 201 ]]; then
        echo "history.sh: PUT /v1/workflows/$name -> ${code:-no answer}: $(head -c 300 "$TMP/put-$name.json" 2>/dev/null)" >&2
        return 1
    fi
}

# metric NAME: the sum of NAME's samples over their labels in /metrics (empty if none).
metric() {
    curl -s --max-time 10 "$RF/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF; found = 1 } END { if (found) printf "%.0f\n", s }' || true
}

# runs_retained: runs this daemon process started minus those retention removed. Every daemon
# here starts on a data dir (or database) its predecessors left, so it is read before a kill.
runs_retained() {
    local started removed
    started=$(metric rf_runs_started_total)
    removed=$(metric rf_runs_removed_total)
    if [[ -n $started ]]; then echo $((started - ${removed:-0})); fi
}

# finished_retained: finished runs this daemon process holds (memory or history).
finished_retained() {
    local finished removed
    finished=$(metric rf_runs_finished_total)
    removed=$(metric rf_runs_removed_total)
    echo $((${finished:-0} - ${removed:-0}))
}

declare -A R=()

# parse ROW LINE: rf-loadgen's key=value line into R[ROW,key].
parse() {
    local row=$1 kv
    for kv in $2; do
        R[$row,${kv%%=*}]=${kv#*=}
    done
}

# drive ROW LABEL [rf-loadgen args...]: one foreground measurement into R[ROW,*].
drive() {
    local row=$1 label=$2 line
    shift 2
    local rc=0
    line=$("$LOADGEN_BIN" --threads "$THREADS" "$@" 2>"$TMP/$row.err") || rc=$?
    record_drive "$row" "$label" "$rc" "$line"
}

# record_drive ROW LABEL RC LINE: parses rf-loadgen's result line into R[ROW,*], or counts
# the scenario as skipped when rf-loadgen failed.
record_drive() {
    local row=$1 label=$2 rc=$3 line=$4
    if [[ $rc != 0 || -z $line ]]; then
        echo "history.sh: $label: rf-loadgen failed: $(tr '\n' ' ' <"$TMP/$row.err")" >&2
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    parse "$row" "$line"
    if [[ ${R[$row,errors]:-0} != 0 ]]; then
        echo "  $label: ${R[$row,errors]} errors: $(tr '\n' ' ' <"$TMP/$row.err")" >&2
    fi
    echo "  done: $label -> $line" >&2
}

# rounds_into ROW HOW FIELD...: R[ROW,FIELD] from R[ROW_1,FIELD] .. R[ROW_READ_ROUNDS,FIELD], by
# their mean or max (HOW); R[ROW,FIELD,rounds] lists the rounds' values ("a / b").
rounds_into() {
    local row=$1 how=$2 field r vals
    shift 2
    for field in "$@"; do
        vals=()
        for ((r = 1; r <= READ_ROUNDS; r++)); do
            [[ -n ${R[${row}_$r,$field]:-} ]] && vals+=("${R[${row}_$r,$field]}")
        done
        ((${#vals[@]} > 0)) || continue
        R[$row,$field]=$(printf '%s\n' "${vals[@]}" | awk -v how="$how" '
            { s += $1; if (NR == 1 || $1 > m) m = $1 }
            END { printf "%.3f", (how == "max") ? m : s / NR }')
        R[$row,$field,rounds]=$(printf '%s / ' "${vals[@]}")
        R[$row,$field,rounds]=${R[$row,$field,rounds]% / }
    done
}

# w3 ROW LABEL [rf-loadgen args...]: W3 starts with ?wait at CLIENTS clients.
w3() {
    local row=$1 label=$2
    shift 2
    drive "$row" "$label" --url "$RF" --path "$W3_PATH" --method POST --body '{"input":{"n":1}}' \
        --clients "$CLIENTS" --expect-status 200,201 --expect-field /status=succeeded \
        --timeout "$WAIT_TIMEOUT" "$@"
}

# Readers: READ_CLIENTS connections each, paced at READ_RATE over them (their latency, not
# their throughput, is measured). Closed-loop readers send as fast as the daemon answers: a
# faster read path then showed as a heavier read load on W3 ("W3 with the readers"), and a
# reader's p99 was the latency of its own back-to-back stream. One paced connection queues in
# the client as soon as one answer takes longer than the interval.
# The floor: nginx GET /ok, read by the same kind of reader beside them. On machines where the
# load, its driver and the readers share the cores, no server answers faster than its process is
# scheduled, and this shows how fast that is.
# reader_args KIND: rf-loadgen arguments of the get / list / dead / ngx reader.
reader_args() {
    case $1 in
        get) echo "--url $RF --path-file $TMP/paths.txt --expect-status 200" ;;
        list) echo "--url $RF --path $LIST_PATH --expect-status 200" ;;
        dead) echo "--url $RF --path $DEAD_PATH --expect-status 200" ;;
        ngx) echo "--url http://127.0.0.1:$NG_PORT --path /ok --expect-status 200" ;;
    esac
}
READERS=(get list dead ngx)
# On PostgreSQL one more reader, pgbench, sends the statements of a GET of a finished run (one
# pipeline, as the daemon's read pool does: SelectFinishedRun and SelectRunRecords in
# src/store/postgres/detail/run_statements.h) for the same sampled ids, paced the same way:
# what the database alone answers in (plus one indexed lookup of the id in a small table),
# idle and under W3. It reads on its own (after the idle
# readers; under W3 in one more W3 run), so it adds no load to the daemon's readers' rounds.

# pg_get_setup: the sampled ids in a table the pgget reader picks from, and its script.
pg_get_setup() {
    psql -d "$PG_URL" -q -v ON_ERROR_STOP=1 \
        -c 'CREATE UNLOGGED TABLE rf_bench_ids (i bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id uuid NOT NULL)' \
        -c "\\copy rf_bench_ids (id) FROM '$TMP/ids.txt'" -c 'ANALYZE rf_bench_ids' || return 1
    cat >"$TMP/pg_get.sql" <<SQL
\\set i random(1, $IDS)
SELECT id AS rid FROM rf_bench_ids WHERE i = :i \\gset
\\startpipeline
SELECT run_id, workflow, version, status, round(extract(epoch FROM created_at) * 1000)::bigint, round(extract(epoch FROM finished_at) * 1000)::bigint, idempotency_key, error->>'message', error->>'step' FROM runs WHERE run_id = :rid::uuid AND finished_at IS NOT NULL;
SELECT payload FROM run_records WHERE run_id = :rid::uuid ORDER BY seq;
\\endpipeline
SQL
}

# pg_reader ROW: pgbench for READ_DURATION; prints one line in rf-loadgen's form. pgbench's
# per-transaction log counts a paced transaction's latency from its scheduled start, as
# rf-loadgen --rate does.
pg_reader() {
    local row=$1 dir="$TMP/$1.pgbench" rate=()
    ((READ_RATE > 0)) && rate=(-R "$READ_RATE")
    mkdir -p "$dir"
    pgbench -n -M prepared -f "$TMP/pg_get.sql" -c "$READ_CLIENTS" -j 1 -T "$READ_DURATION" \
        "${rate[@]}" -l --log-prefix="$dir/tx" "$PG_URL" >"$dir/summary" || return 1
    cat "$dir"/tx.* | awk '{ print $3 / 1000 }' | sort -n | awk -v secs="$READ_DURATION" \
        -v failed="$(awk -F'[: ]+' '/number of failed transactions/ { print $5 }' "$dir/summary")" '
        { l[NR] = $1; s += $1 }
        function q(p) { i = int(NR * p + 0.999999); return l[i < 1 ? 1 : i] }
        END {
            if (NR == 0) exit 1
            printf "requests=%d errors=%d seconds=%s rps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f\n",
                NR, failed + 0, secs, NR / secs, q(0.5), q(0.95), q(0.99), l[NR], s / NR
        }'
}

# start_reader ROW KIND: a reader in the background for READ_DURATION; sets READER_PID.
start_reader() {
    local row=$1 kind=$2 args
    if [[ $kind == pgget ]]; then
        pg_reader "$row" >"$TMP/$row.out" 2>"$TMP/$row.err" &
        READER_PID=$!
        PIDS+=("$READER_PID")
        return
    fi
    read -r -a args <<<"$(reader_args "$kind")"
    ((READ_RATE > 0)) && args+=(--rate "$READ_RATE")
    "$LOADGEN_BIN" --clients "$READ_CLIENTS" --duration "$READ_DURATION" "${args[@]}" \
        >"$TMP/$row.out" 2>"$TMP/$row.err" &
    READER_PID=$!
    PIDS+=("$READER_PID")
}

# finish_reader ROW PID LABEL: waits for a background reader, parses its line.
finish_reader() {
    local row=$1 pid=$2 label=$3 rc=0 line
    wait "$pid" || rc=$?
    forget_pid "$pid"
    line=$(head -n 1 "$TMP/$row.out" 2>/dev/null || true)
    record_drive "$row" "$label" "$rc" "$line"
}

# rss_sampler PID OUT: "epoch_seconds rss_kib" lines every RSS_INTERVAL while PID lives.
rss_sampler() {
    local pid=$1 out=$2 kb
    while kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [[ -n $kb ]]; do
        echo "$(date +%s.%N) $kb" >>"$out"
        sleep "$RSS_INTERVAL"
    done
}

# ------------------------------------------------------------------ 1a. the short run (fresh)
echo >&2
echo "== short run: W3, $CLIENTS clients, ${SHORT_DURATION}s, fresh data dir" >&2
SHORT_URL=""
if [[ $STORE == postgres ]]; then
    psql -d "$PG_URL" -q -c 'CREATE DATABASE rf_short'
    SHORT_URL="${PG_URL%/*}/rf_short"
fi
start_daemon "$TMP/short" "$SHORT_URL"
wait_ready "$RF_PID" "$RF_PORT" /health/ready "$TMP/ringflow.log"
register w3 "$W3"
# warm-up: connections, allocator, journal segments
"$LOADGEN_BIN" --url "$RF" --path "$W3_PATH" --method POST --body '{"input":{"n":1}}' \
    --clients 50 --duration 2 --timeout "$WAIT_TIMEOUT" >/dev/null 2>&1 || true
w3 short "short run: W3 throughput" --duration "$SHORT_DURATION"
stop_pid "$RF_PID"
rm -rf "$TMP/short"
[[ $STORE == postgres ]] && psql -d "$PG_URL" -q -c 'DROP DATABASE rf_short'

# ------------------------------------------------------------------ 1b. the load
start_daemon "$TMP/data" "$PG_URL"
wait_ready "$RF_PID" "$RF_PORT" /health/ready "$TMP/ringflow.log"
register w3 "$W3"
DEAD_OK=1
register wfail "$WFAIL" || DEAD_OK=""
register wlive "$WLIVE" || true
if [[ -n $DEAD_OK ]]; then
    echo "== $FAILED_RUNS failing runs (dead-letter entries older than the load)" >&2
    drive failed "failing runs" --url "$RF" --path '/v1/workflows/wfail/runs?wait=30s' --method POST \
        --body '{"input":{"n":1}}' --clients 20 --runs "$FAILED_RUNS" --expect-status 200,201 \
        --expect-field /status=failed --timeout "$WAIT_TIMEOUT"
fi
have=$(finished_retained)
need=$((RUNS - have))
((need > 0)) || need=1
every=$((need / ID_SAMPLE))
((every > 0)) || every=1
echo "== load: W3, $CLIENTS clients, $need runs (to $RUNS finished), at most ${MAX_LOAD}s" >&2
rss_sampler "$RF_PID" "$TMP/rss.txt" &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")
w3 load "load: W3" --runs "$need" --duration "$MAX_LOAD" --save-field "/id=$TMP/ids.txt" \
    --save-every "$every"
rss_end_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$RF_PID/status" 2>/dev/null || true)
echo "$(date +%s.%N) ${rss_end_kb:-0}" >>"$TMP/rss.txt"
stop_pid "$SAMPLER_PID"
FINISHED_AT_END=$(finished_retained)
# The starts' answers by status as the daemon counted them (the driver counts only errors).
START_ANSWERS=$(curl -s --max-time 10 "$RF/metrics" 2>/dev/null |
    awk '/^rf_http_requests_total\{route="\/v1\/workflows\/\{name\}\/runs",status="/ {
             match($0, /status="[0-9]+"/); s = substr($0, RSTART + 8, RLENGTH - 9); n[s] += $NF }
         END { for (s in n) printf "%s%s=%d", (k++ ? " " : ""), s, n[s] }' || true)
if [[ $STORE == postgres ]]; then
    DISK_BYTES=$(psql -d "$PG_URL" -Atc 'SELECT pg_database_size(current_database())' || true)
    DISK_WHAT="pg_database_size; the cluster's dir: $(du -sm "$PG_DIR/data" 2>/dev/null | awk '{print $1}') MiB"
else
    DISK_BYTES=$(du -sb "$TMP/data" | awk '{print $1}')
    DISK_WHAT="du of the data dir"
fi
# RSS: end (last sample), max, and min/max over the last half of the load (by time).
read -r RSS_END RSS_MAX RSS_HALF_MIN RSS_HALF_MAX RSS_SPREAD RSS_SAMPLES < <(awk '
    { t[NR] = $1; r[NR] = $2; if ($2 > max) max = $2 }
    END {
        if (NR == 0) { print "n/a n/a n/a n/a n/a 0"; exit }
        mid = (t[1] + t[NR]) / 2; lo = -1; hi = 0
        for (i = 1; i <= NR; i++) if (t[i] >= mid) { if (lo < 0 || r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
        spread = (hi + lo > 0) ? (hi - lo) / (hi + lo) * 100 : 0
        printf "%.1f %.1f %.1f %.1f %.1f %d\n", r[NR] / 1024, max / 1024, lo / 1024, hi / 1024, spread, NR
    }' "$TMP/rss.txt")

# ------------------------------------------------------------------ 2. reads
sed 's|^|/v1/runs/|' "$TMP/ids.txt" >"$TMP/paths.txt" 2>/dev/null || true
IDS=$(wc -l <"$TMP/paths.txt")
DEAD_COUNT=$(curl -s --max-time 10 "$RF$DEAD_PATH" | jq '.runs | length' 2>/dev/null || echo '?')
if [[ $IDS -gt 0 ]]; then
    sleep 5  # idle: let the load's tail (flushes) settle
    PG_FLOOR=0
    if [[ $STORE == postgres ]]; then
        pg_get_setup && PG_FLOOR=1 || echo "history.sh: the pgbench reader's ids table failed: no database floor" >&2
    fi
    echo "== reads, idle: ${READ_DURATION}s each, $READ_CLIENTS connections, $IDS sampled run ids" >&2
    for kind in "${READERS[@]}"; do
        start_reader "idle_$kind" "$kind"
        finish_reader "idle_$kind" "$READER_PID" "idle read: $kind"
    done
    if ((PG_FLOOR)); then
        start_reader idle_pgget pgget
        finish_reader idle_pgget "$READER_PID" "idle read: pgbench"
    fi
    # Alternating rounds: the machine's speed drifts within minutes, and one "alone" run
    # followed by one "with readers" run compared the drift as much as the readers.
    echo "== $READ_ROUNDS rounds of W3 alone, then W3 with the four readers: $CLIENTS clients, ${READ_DURATION}s each" >&2
    declare -A RPID=()
    for ((round = 1; round <= READ_ROUNDS; round++)); do
        w3 "w3_alone_$round" "W3 alone (round $round)" --duration "$READ_DURATION"
        for kind in "${READERS[@]}"; do
            start_reader "busy_${kind}_$round" "$kind"
            RPID[$kind]=$READER_PID
        done
        w3 "w3_readers_$round" "W3 with readers (round $round)" --duration "$READ_DURATION"
        for kind in "${READERS[@]}"; do
            finish_reader "busy_${kind}_$round" "${RPID[$kind]}" "loaded read: $kind (round $round)"
        done
    done
    if ((PG_FLOOR)); then
        start_reader busy_pgget pgget
        w3 w3_pgget "W3 with pgbench reading" --duration "$READ_DURATION"
        finish_reader busy_pgget "$READER_PID" "loaded read: pgbench"
    fi
    # The table shows W3 by the mean of its rounds' figures, the reads by their worst round.
    rounds_into w3_alone mean p99_ms rps
    rounds_into w3_readers mean p99_ms rps
    for kind in "${READERS[@]}"; do rounds_into "busy_$kind" max p99_ms p50_ms; done
else
    echo "history.sh: the load saved no run ids: reads not measured" >&2
    SKIPPED=$((SKIPPED + 1))
fi

# ------------------------------------------------------------------ 3. restart
echo "== restart: $LIVE_RUNS live runs (delay ${LIVE_DELAY_MS}ms), kill -9, start again" >&2
drive live "live runs" --url "$RF" --path /v1/workflows/wlive/runs --method POST \
    --body '{"input":{"n":1}}' --clients 50 --runs "$LIVE_RUNS" --expect-status 201 \
    --duration 600 --timeout 30s --save-field "/id=$TMP/live.txt" --save-every "$(((LIVE_RUNS + 99) / 100))"
LIVE_AT_KILL=$(metric rf_runs_active)
RETAINED_AT_KILL=$(runs_retained)
exec 3>&2 2>/dev/null  # bash's "Killed" notice for its job is no news here
stop_pid "$RF_PID" KILL
:
exec 2>&3 3>&-
RESTART_LOG_FROM=$(($(wc -l <"$TMP/ringflow.log") + 1))
start_daemon "$TMP/data" "$PG_URL" info  # the phases of the start, for the table's footnote
RESTART_MS=""
deadline=$((RF_EXEC_NS + RESTART_TIMEOUT * 1000000000))
while :; do
    if [[ $(probe "$RF_PORT" /health/ready) == 200 ]]; then
        RESTART_MS=$((($(date +%s%N) - RF_EXEC_NS) / 1000))
        RESTART_MS=$(awk -v us="$RESTART_MS" 'BEGIN { printf "%.1f", us / 1000 }')
        break
    fi
    if ! kill -0 "$RF_PID" 2>/dev/null; then
        echo "history.sh: ringflow exited during the restart; log:" >&2
        tail -n 20 "$TMP/ringflow.log" >&2 || true
        SKIPPED=$((SKIPPED + 1))
        break
    fi
    if (($(date +%s%N) > deadline)); then
        echo "history.sh: not ready ${RESTART_TIMEOUT}s after the restart" >&2
        SKIPPED=$((SKIPPED + 1))
        break
    fi
    sleep 0.005
done
AFTER=""
if [[ -n $RESTART_MS ]]; then
    live_id=$(head -n 1 "$TMP/live.txt" 2>/dev/null || true)
    live_status=$(curl -s --max-time 10 "$RF/v1/runs/$live_id" | jq -r '.status // "?"' 2>/dev/null || echo '?')
    # The first reads after a restart find history's tables not yet open (RocksDB 7.8 answered
    # memory-only reads of those with empty values: 500s and a crash, found here).
    OLD_OK=0 OLD_BAD=""
    while read -r old_id; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$RF/v1/runs/$old_id" || true)
        if [[ $code == 200 ]]; then OLD_OK=$((OLD_OK + 1)); else OLD_BAD+=" ${code:-none}"; fi
    done < <(awk 'NR % 1000 == 1' "$TMP/ids.txt" | head -n 100)
    if [[ -n $OLD_BAD ]]; then
        echo "history.sh: after the restart, GETs of sampled old runs answered:$OLD_BAD" >&2
        SKIPPED=$((SKIPPED + 1))
    fi
    # Where the start's time went: the daemon's info lines, in ms after exec.
    PHASES=$(tail -n "+$RESTART_LOG_FROM" "$TMP/ringflow.log" |
        awk -v exec_s="$(awk -v ns="$RF_EXEC_NS" 'BEGIN { printf "%.6f", (ns / 1e9) % 86400 }')" \
            -v limit="$RESTART_MS" '
            /"level":"info"/ && match($0, /"ts":"[0-9-]+T[0-9:.]+Z"/) && match($0, /"msg":"[^"]*"/) {
                if ($0 ~ /"partitions":0,/) next  # a shard that took nothing
                split(substr($0, index($0, "T") + 1, 15), t, ":")
                ms = ((t[1] * 3600 + t[2] * 60 + t[3]) - exec_s) * 1000
                if (ms > limit + 50) exit
                m = $0; sub(/.*"msg":"/, "", m); sub(/".*/, "", m)
                extra = ""
                if (m ~ /^partitions taken/) { x = $0; sub(/.*"claim_ms"/, "claim_ms", x); sub(/}.*/, "", x); gsub(/"/, "", x); extra = " (" x ")" }
                printf "%s+%.0f %s%s", (n++ ? "; " : ""), ms, m, extra
            }')
    AFTER="after the restart: rf_runs_active=$(metric rf_runs_active), a live run is ${live_status:-?}, GET of $((OLD_OK + $(wc -w <<<"$OLD_BAD"))) sampled old runs (oldest first, every 1000th): $OLD_OK answered 200"
fi

# ------------------------------------------------------------------ 4. reference
echo "== reference: nginx GET /ok, $CLIENTS clients, ${READ_DURATION}s" >&2
drive ref "ref: nginx GET /ok" --url "http://127.0.0.1:$NG_PORT/ok" --clients "$CLIENTS" \
    --expect-status 200 --duration "$READ_DURATION"
kill -0 "$RF_PID" 2>/dev/null || echo "WARNING: ringflow is no longer running" >&2

# ------------------------------------------------------------------ table
v() { [[ -n ${R[$1,$2]:-} ]] && echo "${R[$1,$2]}" || echo n/a; }
int() {
    if [[ $1 == n/a || -z $1 ]]; then echo n/a; else awk -v x="$1" 'BEGIN { printf "%.0f", x }'; fi
}
# le VALUE LIMIT: ok / MISSED / n/a.
le() {
    [[ $1 == n/a || -z $1 || $1 == '?' ]] && { echo n/a; return; }
    awk -v x="$1" -v l="$2" 'BEGIN { print (x + 0 <= l + 0) ? "ok" : "MISSED" }'
}
row() { printf '%-46s | %-32s | %-18s | %s\n' "$@"; }

short_rps=$(v short rps)
load_rps=$(v load rps)
pct=n/a
[[ $short_rps != n/a && $load_rps != n/a ]] &&
    pct=$(awk -v a="$load_rps" -v b="$short_rps" 'BEGIN { printf "%.0f%% of short", (b > 0 ? a / b * 100 : 0) }')
rss_flat=n/a
if [[ $RSS_SPREAD != n/a ]]; then
    rss_flat=$(awk -v hi="$RSS_HALF_MAX" -v s="$RSS_SPREAD" 'BEGIN { print (hi <= 256 && s <= 10) ? "ok" : "MISSED" }')
fi
disk=n/a
[[ -n ${DISK_BYTES:-} ]] && disk=$(awk -v b="$DISK_BYTES" 'BEGIN { printf "%.1f MiB", b / 1048576 }')" ($DISK_WHAT)"
w3_delta=n/a
[[ $(v w3_alone p99_ms) != n/a && $(v w3_readers p99_ms) != n/a ]] &&
    w3_delta=$(awk -v a="$(v w3_alone p99_ms)" -v b="$(v w3_readers p99_ms)" 'BEGIN { printf "%+.0f%% vs alone", (a > 0 ? (b - a) / a * 100 : 0) }')

echo
row figure value target verdict
printf '%s\n' "-----------------------------------------------+----------------------------------+--------------------+---------------"
row "short run: W3 throughput, fresh, ${SHORT_DURATION}s" "$(int "$short_rps") runs/s (p99 $(v short p99_ms) ms)" "reference" "-"
row "load: W3 throughput over the load" "$(int "$load_rps") runs/s" "short run: $(int "$short_rps")/s" "$pct"
row "load: W3 p50 / p99 / max ms" "$(v load p50_ms) / $(v load p99_ms) / $(v load max_ms)" "-" "-"
row "load: runs (ok / errors) in $(v load seconds)s" "$(v load requests) / $(v load errors)" "-" "-"
row "load: starts by status (daemon's count)" "${START_ANSWERS:-n/a}" "-" "-"
row "load: finished runs retained at the end" "$FINISHED_AT_END" "$RUNS" "$( ((FINISHED_AT_END >= RUNS)) && echo ok || echo short)"
row "load: RSS at the end" "$RSS_END MiB" "<= 256 MiB" "$(le "$RSS_END" 256)"
row "load: RSS max ($RSS_SAMPLES samples)" "$RSS_MAX MiB" "<= 256 MiB" "$(le "$RSS_MAX" 256)"
row "load: RSS last half min..max" "$RSS_HALF_MIN..$RSS_HALF_MAX MiB (+-$RSS_SPREAD%)" "<= 256 MiB, +-10%" "$rss_flat"
row "load: disk use at the end" "$disk" "-" "-"
row "idle: GET /v1/runs/{id} p50 / p99 ms" "$(v idle_get p50_ms) / $(v idle_get p99_ms)" "p99 <= 2 ms" "$(le "$(v idle_get p99_ms)" 2)"
row "idle: GET $LIST_PATH p99" "$(v idle_list p99_ms) ms" "<= 10 ms" "$(le "$(v idle_list p99_ms)" 10)"
row "idle: GET $DEAD_PATH p99" "$(v idle_dead p99_ms) ms" "<= 10 ms" "$(le "$(v idle_dead p99_ms)" 10)"
row "idle: floor, nginx GET /ok p50 / p99 ms" "$(v idle_ngx p50_ms) / $(v idle_ngx p99_ms)" "reference" "-"
[[ $STORE == postgres ]] &&
    row "idle: floor, pgbench of a GET's SQL p50 / p99" "$(v idle_pgget p50_ms) / $(v idle_pgget p99_ms)" "reference" "-"
row "loaded: GET /v1/runs/{id} p50 / p99 ms" "$(v busy_get p50_ms) / $(v busy_get p99_ms) ($(v busy_get p99_ms,rounds))" "p99 <= 2 ms" "$(le "$(v busy_get p99_ms)" 2)"
row "loaded: GET $LIST_PATH p99" "$(v busy_list p99_ms) ms ($(v busy_list p99_ms,rounds))" "<= 10 ms" "$(le "$(v busy_list p99_ms)" 10)"
row "loaded: GET $DEAD_PATH p99" "$(v busy_dead p99_ms) ms ($(v busy_dead p99_ms,rounds))" "<= 10 ms" "$(le "$(v busy_dead p99_ms)" 10)"
row "loaded: floor, nginx GET /ok p50 / p99 ms" "$(v busy_ngx p50_ms) / $(v busy_ngx p99_ms) ($(v busy_ngx p99_ms,rounds))" "reference" "-"
[[ $STORE == postgres ]] &&
    row "loaded: floor, pgbench of a GET's SQL p50 / p99" "$(v busy_pgget p50_ms) / $(v busy_pgget p99_ms) (W3 $(int "$(v w3_pgget rps)")/s)" "reference" "-"
row "W3 p99, $CLIENTS clients, alone" "$(v w3_alone p99_ms) ms ($(v w3_alone p99_ms,rounds)), $(int "$(v w3_alone rps)")/s" "-" "-"
row "W3 p99, $CLIENTS clients, with the readers" "$(v w3_readers p99_ms) ms ($(v w3_readers p99_ms,rounds)), $(int "$(v w3_readers rps)")/s" "beside alone" "$w3_delta"
row "restart: runs retained at kill -9 (live)" "${RETAINED_AT_KILL:-n/a} (${LIVE_AT_KILL:-n/a} live)" "$LIVE_RUNS live" "-"
row "restart: exec -> first 200 /health/ready" "${RESTART_MS:-n/a}${RESTART_MS:+ ms}" "<= 1000 ms" "$(le "${RESTART_MS:-n/a}" 1000)"
row "ref: nginx GET /ok, $CLIENTS clients" "$(int "$(v ref rps)") req/s (p99 $(v ref p99_ms) ms)" "-" "-"
echo
if ((READ_RATE > 0)); then
    echo "reads: $READ_CLIENTS connections each, $READ_RATE requests/s over them, paced (latency from"
    echo "a request's scheduled time when a late answer held it back); GET /v1/runs/{id} picks at"
    echo "random among $IDS run ids"
else
    echo "reads: $READ_CLIENTS closed-loop connections each; GET /v1/runs/{id} picks at random among $IDS run ids"
fi
echo "sampled evenly over the load (every ${every}th); dead-letter?limit=10 answered $DEAD_COUNT runs (of"
echo "the $FAILED_RUNS failing runs started before the load, older than every W3 run). idle: after"
echo "the load, nothing else running; loaded: during 'W3 with the readers'. $READ_ROUNDS rounds of"
echo "W3 alone, then W3 with the readers, alternate; reads show their worst round, W3 the mean of"
echo "its rounds (each round's figure in brackets). RSS: VmRSS of the daemon every ${RSS_INTERVAL}s"
echo "during the load; +-% = (max-min)/(max+min) over its last half. floor: nginx GET /ok read the"
echo "same way at the same time (a fourth reader under W3): what any server answers in then."
[[ $STORE == postgres ]] && echo "pgbench floor: the SQL of a GET of a finished run (one pipeline) for the same ids, paced the
same way, on its own (idle; under W3 in one more W3 run): what the database alone answers in."
echo "restart: runs retained = started - removed by retention, read from /metrics before the kill."
[[ -n $AFTER ]] && echo "$AFTER"
[[ -n ${PHASES:-} ]] && echo "restart phases (ms after exec, the daemon's info log): $PHASES"
if [[ $SKIPPED -gt 0 ]]; then
    echo
    echo "history.sh: $SKIPPED measurement(s) failed (see messages above)" >&2
    exit 1
fi

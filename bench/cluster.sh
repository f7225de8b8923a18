#!/usr/bin/env bash
# Daemons sharing one PostgreSQL (issue 11's bench): failover, forwarding, W3 with 1/2/3 daemons.
#
# All on one private PostgreSQL cluster (tools/pg.sh, durability on).
#
# Failover: daemons a and b share the partitions (the ring over live members), c is a
# --standby. Each round starts LIVE_RUNS runs of a workflow (a delay of DELAY_MS, then a
# noop) on the victim (a and b by turns; keyless starts land in the victim's own
# partitions), kills it with SIGKILL right after the last start, and measures on the
# survivor (polling /metrics every 50 ms):
#   takeover : kill -> the survivor holds every partition (rf_partitions_held == 256),
#   first    : kill -> the first moved run's noop step completed there,
#   all      : kill -> the noop steps of every moved run completed there.
# Runs whose delay fell due before the kill finish on the victim and do not move: the number
# moved is printed per round. The victim is started again on its data dir, gets its share
# back (hand-over at run time) and the next round kills the other one.
# Prints p50/max over ROUNDS rounds and pgbench's one-row SELECT TPS on the same cluster.
#
# Start latency at one client: LATENCY_RUNS sequential POSTs of a one-noop workflow with
# ?wait=5s (curl's time_total) to a (local: it starts runs in its own partitions) and to
# the standby c (forwarded to the holder of the partition it picks).
#
# W3 throughput with 1, 2 and 3 daemons (c restarted without --standby): noop->noop->noop
# runs with ?wait=30s from rf-loadgen, CLIENTS connections split over the daemons (one
# rf-loadgen per daemon, W3_DURATION seconds each, run together), summed. Everything
# shares this machine's cores, so this shows what the cluster machinery costs, not scaling.
# Reference rows: one daemon with 2x and 3x SHARDS shards and the same clients. Each shard
# commits its own batches, so N daemons also mean N times the commits of smaller batches; the
# N-daemon row beside the one-daemon row with as many shards is what the cluster itself costs.
#
# REDIS=1: a private Redis (tools/redis.sh) beside the database, every daemon with --redis-url
# (membership heartbeats, shared quotas, the event bus). PARTS picks what runs, a comma list of
# failover, latency, w3 (default all three).
#
#   bench/cluster.sh            # ROUNDS=5 LIVE_RUNS=200 DELAY_MS=2000 CLIENTS=120 W3_DURATION=15
#   SKIP_BUILD=1 REDIS=1 PARTS=w3 bench/cluster.sh
set -euo pipefail

case ${1:-} in
    -h | --help) sed -n '2,36s/^# \{0,1\}//p' "$0"; exit 0 ;;
    "") ;;
    *) echo "cluster.sh: unknown argument ${1} (see --help)" >&2; exit 2 ;;
esac
ROUNDS=${ROUNDS:-5}
LIVE_RUNS=${LIVE_RUNS:-200}
DELAY_MS=${DELAY_MS:-2000}
SHARDS=${SHARDS:-2}
LATENCY_RUNS=${LATENCY_RUNS:-500}
CLIENTS=${CLIENTS:-120}
W3_DURATION=${W3_DURATION:-15}
REDIS=${REDIS:-0}
PARTS=${PARTS:-failover,latency,w3}
[[ $REDIS == 0 || $REDIS == 1 ]] || { echo "cluster.sh: REDIS must be 0 or 1" >&2; exit 2; }
[[ ,$PARTS, =~ ^(,(failover|latency|w3))+,$ ]] ||
    { echo "cluster.sh: PARTS is a comma list of failover, latency, w3 (got '$PARTS')" >&2; exit 2; }
part() { [[ ,$PARTS, == *,$1,* ]]; }
for v in ROUNDS LIVE_RUNS DELAY_MS SHARDS LATENCY_RUNS CLIENTS W3_DURATION; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "cluster.sh: $v must be a positive integer" >&2; exit 2; }
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=cluster.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}
prepare_bench

start_bench_with_pg clusterbench
REDIS_ARGS=()
if [[ $REDIS == 1 ]]; then
    REDIS_DIR="$TMP/redis"
    mkdir -p "$REDIS_DIR"
    REDIS_ARGS=(--redis-url "$("$REPO/tools/redis.sh" start "$REDIS_DIR")")
fi
"$RINGFLOW_BIN" migrate up --database-url "$PG_URL" >/dev/null

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_rf NAME [FLAGS...]: daemon NAME on its own port and data dir; sets PORT_<NAME>, PID_<NAME>.
# RF_SHARDS=N before it: N shards instead of SHARDS.
start_rf() {
    local name=$1 port pid
    shift
    port=$(free_port)
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$port" --data-dir "$TMP/data-$name" --shards "${RF_SHARDS:-$SHARDS}" \
        --store postgres --database-url "$PG_URL" --log-level info --access-log false "${REDIS_ARGS[@]}" "$@" \
        2>>"$TMP/ringflow-$name.log" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$pid" "$port" /health/ready "$TMP/ringflow-$name.log"
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$pid"
}

held() {  # PORT -> rf_partitions_held
    curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "rf_partitions_held" {print int($2)}'
}

noops() {  # PORT -> noop steps that succeeded there (moved runs end with one)
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '$1 == "rf_steps_total{type=\"noop\",outcome=\"succeeded\"}" {print int($2)}'
}

# wait_shared PORT...: until the daemons on PORTs hold every partition between them, each some.
wait_shared() {
    local deadline=$(($(now_ms) + 30000)) p n total ok
    while (($(now_ms) < deadline)); do
        total=0 ok=1
        for p in "$@"; do
            n=$(held "$p")
            total=$((total + ${n:-0}))
            [[ ${n:-0} -gt 0 ]] || ok=0
        done
        [[ $total -eq 256 && $ok -eq 1 ]] && return 0
        sleep 0.1
    done
    echo "cluster.sh: daemons on ports $* did not share the partitions within 30 s" >&2
    exit 1
}

PORT_a='' PORT_b='' PORT_c='' PID_a='' PID_b='' PID_c=''  # set by start_rf
start_rf a
start_rf b
start_rf c --standby true
wait_shared "$PORT_a" "$PORT_b"
victim=a survivor=b
curl -sf -X PUT "http://127.0.0.1:$PORT_a/v1/workflows/failover" -H 'content-type: application/json' \
    -d "{\"steps\":[{\"id\":\"wait\",\"type\":\"delay\",\"ms\":$DELAY_MS},{\"id\":\"after\",\"type\":\"noop\",\"depends_on\":[\"wait\"]}]}" \
    >/dev/null
sleep 1.5  # the others read the new definition within a second

echo "== ringflow cluster bench =="
echo "date    : $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine : nproc=$(nproc) kernel=$(uname -r) mem=$(awk '/^MemTotal/ {printf "%.1fGiB", $2 / 1048576}' /proc/meminfo)"
echo "ringflow: $("$RINGFLOW_BIN" version 2>/dev/null | head -n 1) shards=$SHARDS per daemon, up to 3 daemons on one database"
echo "store   : postgres $(psql -d "$PG_URL" -Atc 'SHOW server_version'), same machine$([[ $REDIS == 1 ]] && echo ", redis $(redis-server --version | awk '{sub("v=", "", $3); print $3}')")"
echo "parts   : $PARTS"
echo "rounds  : $ROUNDS, $LIVE_RUNS runs started before each kill (delay ${DELAY_MS} ms, then noop)"
echo

takeovers=() firsts=() alls=() moved_runs=()
for round in $(seq 1 "$ROUNDS"); do
    part failover || break
    vp=PORT_$victim sp=PORT_$survivor vpid=PID_$victim
    hport=${!vp} sport=${!sp}
    base=$(noops "$sport")
    seq 1 "$LIVE_RUNS" | xargs -P 8 -I{} curl -sf -o /dev/null -X POST \
        "http://127.0.0.1:$hport/v1/workflows/failover/runs"
    t_kill=$(now_ms)
    stop_pid "${!vpid}" KILL
    t_take="" t_first="" t_all="" moved=0
    while [[ -z $t_all ]]; do
        now=$(now_ms)
        if ((now - t_kill > 60000)); then
            [[ -n $t_first ]] && break  # some runs finished on the holder before the kill
            echo "cluster.sh: round $round: no failover within 60 s" >&2
            exit 1
        fi
        [[ -z $t_take && $(held "$sport") == 256 ]] && t_take=$now
        if [[ -n $t_take ]]; then
            moved=$(($(noops "$sport") - base))
            [[ -z $t_first && $moved -gt 0 ]] && t_first=$now
            # Settled: every run moved, or no change for 3 s after the first.
            if [[ $moved -eq $LIVE_RUNS ]]; then t_all=$now; fi
            if [[ -n $t_first && $moved -eq ${last_moved:-0} ]]; then
                if ((now - ${last_change:-now} > 3000)); then t_all=$last_change; fi
            else
                last_change=$now last_moved=$moved
            fi
        fi
        sleep 0.05
    done
    unset last_change last_moved
    takeovers+=($((t_take - t_kill))) firsts+=($((t_first - t_kill))) alls+=($((t_all - t_kill)))
    printf 'round %d: takeover %5d ms  first step done %5d ms  all %3d moved runs %5d ms\n' \
        "$round" $((t_take - t_kill)) $((t_first - t_kill)) "$moved" $((t_all - t_kill))
    moved_runs+=("$moved")
    start_rf "$victim"  # back on its data dir: it gets its share back
    vp=PORT_$victim
    wait_shared "${!vp}" "$sport"
    tmp=$victim victim=$survivor survivor=$tmp
done

# Start latency at one client: to a (local) and through the standby c (forwarded).
curl -sf -X PUT "http://127.0.0.1:$PORT_a/v1/workflows/quick" -H 'content-type: application/json' \
    -d '{"steps":[{"id":"a","type":"noop"}]}' >/dev/null
sleep 1.5  # the others read the new definition within a second
latency() {  # PORT -> "p50 p99" in ms of LATENCY_RUNS sequential starts that wait for the end
    local port=$1 i
    for i in $(seq 1 "$LATENCY_RUNS"); do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST \
            "http://127.0.0.1:$port/v1/workflows/quick/runs?wait=5s"
    done | awk '$1 != 201 {bad++} {print $2 * 1000 > "/dev/stderr"} END {exit bad > 0}' 2>"$TMP/lat" ||
        { echo "cluster.sh: a start through port $port was not answered 201" >&2; exit 1; }
    sort -n "$TMP/lat" | awk '{v[NR] = $1} END {printf "%.2f %.2f", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)]}'
}
if part latency; then
    read -r lp50 lp99 <<<"$(latency "$PORT_a")"
    read -r fp50 fp99 <<<"$(latency "$PORT_c")"
fi

# W3 with 1, 2, 3 daemons: b and c stop, then b and c (no longer a standby) join again.
curl -sf -X PUT "http://127.0.0.1:$PORT_a/v1/workflows/w3" -H 'content-type: application/json' \
    -d '{"steps":[{"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]},{"id":"c","type":"noop","depends_on":["b"]}]}' >/dev/null
stop_pid "$PID_b"
stop_pid "$PID_c"
wait_shared "$PORT_a"
w3() {  # PORT... -> "runs/s p99_ms errors" summed (p99: the worst daemon's)
    local n=$# i=0 p pids=()
    for p in "$@"; do
        "$LOADGEN_BIN" --url "http://127.0.0.1:$p" --path '/v1/workflows/w3/runs?wait=30s' --method POST \
            --body '{"input":{"n":1}}' --clients $((CLIENTS / n)) --duration "$W3_DURATION" --timeout 35s \
            --expect-status 201 --expect-field /status=succeeded >"$TMP/w3-$i.out" 2>"$TMP/w3-$i.err" &
        pids+=($!)
        i=$((i + 1))
    done
    wait "${pids[@]}"  # not `wait`: the daemons are children too
    cat "$TMP"/w3-*.out | tr ' ' '\n' | awk -F= '
        $1 == "rps" {r += $2} $1 == "p99_ms" && $2 > p {p = $2} $1 == "errors" {e += $2}
        END {printf "%.0f %.2f %d", r, p, e}'
    rm -f "$TMP"/w3-*.out
}
if part w3; then
    sleep 1
    read -r w1 w1p w1e <<<"$(w3 "$PORT_a")"
    start_rf b
    wait_shared "$PORT_a" "$PORT_b"
    read -r w2 w2p w2e <<<"$(w3 "$PORT_a" "$PORT_b")"
    start_rf c
    wait_shared "$PORT_a" "$PORT_b" "$PORT_c"
    read -r w3r w3p w3e <<<"$(w3 "$PORT_a" "$PORT_b" "$PORT_c")"
    # Reference: the same shards in one daemon. More daemons on these 2 cores also means more
    # shards, each committing its own (smaller) batches: one daemon with 2x and 3x the shards
    # (same clients) shows what that costs, so the rest is what the cluster machinery costs.
    PORT_s2='' PORT_s3='' PID_s2=''  # set by start_rf
    stop_pid "$PID_a"
    stop_pid "$PID_b"
    stop_pid "$PID_c"
    RF_SHARDS=$((SHARDS * 2)) start_rf s2
    wait_shared "$PORT_s2"
    read -r r2 r2p r2e <<<"$(w3 "$PORT_s2")"
    stop_pid "$PID_s2"
    RF_SHARDS=$((SHARDS * 3)) start_rf s3
    wait_shared "$PORT_s3"
    read -r r3 r3p r3e <<<"$(w3 "$PORT_s3")"
fi

stats() {  # values -> "p50 max"
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {printf "%d %d", v[int((NR + 1) / 2)], v[NR]}'
}

# Reference: one-row SELECTs through pgbench, 4 clients, 10 s, on the same cluster.
pgbench -i -q "$PG_URL" >/dev/null 2>&1
ref=$(pgbench -n -S -c 4 -j 2 -T 10 "$PG_URL" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3; exit}')

if part failover; then
    read -r tp tm <<<"$(stats "${takeovers[@]}")"
    read -r fp fm <<<"$(stats "${firsts[@]}")"
    read -r ap am <<<"$(stats "${alls[@]}")"
    echo
    printf '%-44s %10s %10s\n' "failover (kill -9 -> on the survivor)" "p50 ms" "max ms"
    printf '%-44s %10d %10d\n' "holds every partition" "$tp" "$tm"
    printf '%-44s %10d %10d   (target <= 5000)\n' "first step of a moved run completed" "$fp" "$fm"
    printf '%-44s %10d %10d\n' "all moved runs completed" "$ap" "$am"
    echo "runs moved per round (of $LIVE_RUNS started just before the kill): ${moved_runs[*]}"
fi
echo
echo "reference: pgbench -S (one-row SELECT), 4 clients: ${ref:-?} tps"
if part latency; then
    echo
    printf '%-44s %10s %10s\n' "start ?wait=5s, one client, $LATENCY_RUNS runs" "p50 ms" "p99 ms"
    printf '%-44s %10s %10s\n' "to a daemon (local partition)" "$lp50" "$lp99"
    printf '%-44s %10s %10s\n' "to a standby (forwarded to the holder)" "$fp50" "$fp99"
fi
part w3 || exit 0
echo
printf '%-44s %10s %10s %8s %8s\n' "W3 ($CLIENTS clients, ${W3_DURATION}s, ?wait=30s)" "runs/s" "p99 ms" "errors" "vs 1"
printf '%-44s %10s %10s %8s %8s\n' "1 daemon" "$w1" "$w1p" "$w1e" "1.00"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '%-44s %10s %10s %8s %8s\n' "2 daemons" "$w2" "$w2p" "$w2e" "$(ratio "$w2" "$w1")"
printf '%-44s %10s %10s %8s %8s   (target: no drop from 1 to 3)\n' "3 daemons" "$w3r" "$w3p" "$w3e" "$(ratio "$w3r" "$w1")"
printf '%-44s %10s %10s %8s %8s   (2 daemons: x%s of it)\n' "1 daemon, $((SHARDS * 2)) shards (reference)" "$r2" "$r2p" "$r2e" \
    "$(ratio "$r2" "$w1")" "$(ratio "$w2" "$r2")"
printf '%-44s %10s %10s %8s %8s   (3 daemons: x%s of it)\n' "1 daemon, $((SHARDS * 3)) shards (reference)" "$r3" "$r3p" "$r3e" \
    "$(ratio "$r3" "$w1")" "$(ratio "$w3r" "$r3")"

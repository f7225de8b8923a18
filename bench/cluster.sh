#!/usr/bin/env bash
# Failover of daemons sharing one PostgreSQL (issue 11's bench, the part that exists today).
#
# Two ringflow daemons on one private PostgreSQL cluster (tools/pg.sh, durability on): the
# holder has every partition, the other waits as a hot standby. Each round starts LIVE_RUNS
# runs of a workflow (a delay of DELAY_MS, then a noop) on the holder, kills it with SIGKILL
# right after the last start, and measures on the standby (polling /metrics every 50 ms):
#   takeover : kill -> the standby holds every partition (rf_partitions_held == 256),
#   first    : kill -> the first moved run's noop step completed there (the delays fall due
#              during the takeover, so this is the takeover plus resuming a run),
#   all      : kill -> the noop steps of every moved run completed there.
# Runs whose delay fell due before the kill finish on the holder and do not move: the
# number moved is printed per round.
# The killed daemon is started again on its data dir and becomes the next round's standby.
# Prints p50/max over ROUNDS rounds, runs moved per round, and beside them pgbench's one-row
# SELECT TPS against the same cluster (the reference: what one round trip costs here).
#
# Then the latency of a start at one client (LATENCY_RUNS sequential POSTs of a one-noop
# workflow with ?wait=5s, curl's time_total) sent to the holder and sent to the standby,
# which forwards it to the holder.
#
# Not measured, because ringflow does not do it yet: W3 throughput with 1, 2 and 3 daemons
# (partitions are not spread over live daemons; a standby adds no throughput).
#
#   bench/cluster.sh            # ROUNDS=5 LIVE_RUNS=200 DELAY_MS=2000
#   SKIP_BUILD=1 bench/cluster.sh
set -euo pipefail

case ${1:-} in
    -h | --help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
    "") ;;
    *) echo "cluster.sh: unknown argument ${1} (see --help)" >&2; exit 2 ;;
esac
ROUNDS=${ROUNDS:-5}
LIVE_RUNS=${LIVE_RUNS:-200}
DELAY_MS=${DELAY_MS:-2000}
SHARDS=${SHARDS:-2}
LATENCY_RUNS=${LATENCY_RUNS:-500}
for v in ROUNDS LIVE_RUNS DELAY_MS SHARDS LATENCY_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "cluster.sh: $v must be a positive integer" >&2; exit 2; }
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=cluster.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}
prepare_bench

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rf-clusterbench.XXXXXX")
mkdir -p "$TMP/bin"
cp "$RINGFLOW_BIN" "$TMP/bin/ringflow"
RINGFLOW_BIN=$TMP/bin/ringflow
trap cleanup_bench EXIT
trap 'exit 130' INT TERM

PG_DIR="$TMP/pg"
mkdir -p "$PG_DIR"
chmod 755 "$TMP"  # the cluster runs as the postgres user (tools/pg.sh): it must reach PG_DIR
PG_URL=$(env -u PG_FAST "$REPO/tools/pg.sh" start "$PG_DIR")
"$RINGFLOW_BIN" migrate up --database-url "$PG_URL" >/dev/null

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_rf NAME: daemon NAME (a or b) on its own port and data dir; sets PORT_<NAME>, PID_<NAME>.
start_rf() {
    local name=$1 port pid
    port=$(free_port)
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$port" --data-dir "$TMP/data-$name" --shards "$SHARDS" \
        --store postgres --database-url "$PG_URL" --log-level info --access-log false \
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

start_rf a
start_rf b
holder=a standby=b
first_port=PORT_a
curl -sf -X PUT "http://127.0.0.1:${!first_port}/v1/workflows/failover" -H 'content-type: application/json' \
    -d "{\"steps\":[{\"id\":\"wait\",\"type\":\"delay\",\"ms\":$DELAY_MS},{\"id\":\"after\",\"type\":\"noop\",\"depends_on\":[\"wait\"]}]}" \
    >/dev/null

echo "== ringflow cluster bench (failover) =="
echo "date    : $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine : nproc=$(nproc) kernel=$(uname -r) mem=$(awk '/^MemTotal/ {printf "%.1fGiB", $2 / 1048576}' /proc/meminfo)"
echo "ringflow: $("$RINGFLOW_BIN" version 2>/dev/null | head -n 1) shards=$SHARDS, 2 daemons on one database"
echo "store   : postgres $(psql -d "$PG_URL" -Atc 'SHOW server_version'), same machine"
echo "rounds  : $ROUNDS, $LIVE_RUNS runs started before each kill (delay ${DELAY_MS} ms, then noop)"
echo

takeovers=() firsts=() alls=() moved_runs=()
for round in $(seq 1 "$ROUNDS"); do
    hp=PORT_$holder sp=PORT_$standby hpid=PID_$holder
    hport=${!hp} sport=${!sp}
    [[ $(held "$hport") == 256 ]] || { echo "cluster.sh: round $round: the holder holds $(held "$hport")" >&2; exit 1; }
    base=$(noops "$sport")
    seq 1 "$LIVE_RUNS" | xargs -P 8 -I{} curl -sf -o /dev/null -X POST \
        "http://127.0.0.1:$hport/v1/workflows/failover/runs"
    t_kill=$(now_ms)
    stop_pid "${!hpid}" KILL
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
    start_rf "$holder"  # back on its data dir: the next standby
    tmp=$holder holder=$standby standby=$tmp
done

# Start latency at one client: direct to the holder, and through the standby (forwarded).
hp=PORT_$holder sp=PORT_$standby
curl -sf -X PUT "http://127.0.0.1:${!hp}/v1/workflows/quick" -H 'content-type: application/json' \
    -d '{"steps":[{"id":"a","type":"noop"}]}' >/dev/null
sleep 1.5  # the standby reads the new definition within a second
latency() {  # PORT -> "p50 p99" in ms of LATENCY_RUNS sequential starts that wait for the end
    local port=$1 i
    for i in $(seq 1 "$LATENCY_RUNS"); do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST \
            "http://127.0.0.1:$port/v1/workflows/quick/runs?wait=5s"
    done | awk '$1 != 201 {bad++} {print $2 * 1000 > "/dev/stderr"} END {exit bad > 0}' 2>"$TMP/lat" ||
        { echo "cluster.sh: a start through port $port was not answered 201" >&2; exit 1; }
    sort -n "$TMP/lat" | awk '{v[NR] = $1} END {printf "%.2f %.2f", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)]}'
}
read -r lp50 lp99 <<<"$(latency "${!hp}")"
read -r fp50 fp99 <<<"$(latency "${!sp}")"

stats() {  # values -> "p50 max"
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {printf "%d %d", v[int((NR + 1) / 2)], v[NR]}'
}
read -r tp tm <<<"$(stats "${takeovers[@]}")"
read -r fp fm <<<"$(stats "${firsts[@]}")"
read -r ap am <<<"$(stats "${alls[@]}")"

# Reference: one-row SELECTs through pgbench, 4 clients, 10 s, on the same cluster.
pgbench -i -q "$PG_URL" >/dev/null 2>&1
ref=$(pgbench -n -S -c 4 -j 2 -T 10 "$PG_URL" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3; exit}')

echo
printf '%-44s %10s %10s\n' "failover (kill -9 -> on the standby)" "p50 ms" "max ms"
printf '%-44s %10d %10d\n' "holds every partition" "$tp" "$tm"
printf '%-44s %10d %10d   (target <= 5000)\n' "first step of a moved run completed" "$fp" "$fm"
printf '%-44s %10d %10d\n' "all moved runs completed" "$ap" "$am"
echo "runs moved per round (of $LIVE_RUNS started just before the kill): ${moved_runs[*]}"
echo "reference: pgbench -S (one-row SELECT), 4 clients: ${ref:-?} tps"
echo
printf '%-44s %10s %10s\n' "start ?wait=5s, one client, $LATENCY_RUNS runs" "p50 ms" "p99 ms"
printf '%-44s %10s %10s\n' "to the holder (local)" "$lp50" "$lp99"
printf '%-44s %10s %10s\n' "to the standby (forwarded to the holder)" "$fp50" "$fp99"
echo "W3 with 1/2/3 daemons: not measured (partitions are not spread over live daemons yet)"

#!/usr/bin/env bash
# Flow-control bench (issue 14): RUNS runs of a workflow with `concurrency: {key, limit: LIMIT}`
# spread evenly over KEYS keys (rf-loadgen --body-file, one client thread, so every key gets
# RUNS/KEYS runs), each run one delay step of DELAY_MS. All are started as fast as the daemon
# takes them, so most wait `queued` behind their key's limit. Prints, from the runs' own records
# (GET /v1/runs/{id} of every run after the last finished):
#   - throughput: runs / (last finish - first creation), beside the ideal KEYS*LIMIT*1000/DELAY_MS
#     (every key's slots always busy) and beside the reference: the same runs of a workflow
#     without a limit, measured first in the same run (every run live at once);
#   - fairness: each key's last finish after the first creation, min / p50 / max over the keys and
#     the spread (max - min); with equal work per key a fair queue finishes every key together;
#   - the most runs of one key seen live at once (from the delay steps' started/finished times;
#     must not exceed LIMIT) and the queue wait (step started - run created) p50/p99.
#
#   bench/flow.sh                              # embedded store, fsync on, 2 shards, 10,000 runs
#   RUNS=2000 SKIP_BUILD=1 bench/flow.sh       # a quick check of the script
#
# Environment (all optional):
#   RUNS=10000          runs of each measurement                                 [10000]
#   KEYS=100            distinct keys                                            [100]
#   LIMIT=10            concurrency limit per key                                [10]
#   DELAY_MS=200        each run's delay step                                    [200]
#   CLIENTS=32          concurrent connections starting runs                     [32]
#   SHARDS=2            ringflow --shards                                        [2]
#   FSYNC=always        the daemon's --fsync                                     [always]
#   SKIP_BUILD=1        do not run tools/build.sh (binaries already built)
#   RINGFLOW_BIN        the binary [build/release/src/app/ringflow]
#   DATA_ROOT=DIR       where the temporary data directory goes ($TMPDIR or /tmp)
#
# Everything listens on and talks to 127.0.0.1 only; the daemons this script starts are stopped
# by PID on exit. The daemon and the client share this machine's cores.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
no_args_but_help 31 "$@"
RUNS=${RUNS:-10000}
KEYS=${KEYS:-100}
LIMIT=${LIMIT:-10}
DELAY_MS=${DELAY_MS:-200}
CLIENTS=${CLIENTS:-32}
SHARDS=${SHARDS:-2}
FSYNC=${FSYNC:-always}
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}
TMP=$(mktemp -d "${DATA_ROOT:-${TMPDIR:-/tmp}}/rf-bench-flow.XXXXXX")
trap cleanup_bench EXIT
prepare_bench

for ((k = 0; k < KEYS; k++)); do echo "{\"input\":{\"k\":\"key-$k\"}}"; done >"$TMP/bodies"

# measure LABEL DEFINITION: a fresh daemon, RUNS starts, then every run read back; one table row.
measure() {
    local label=$1 definition=$2 dir=$TMP/$1 port line
    start_embedded "$dir"
    port=$RF_PORT
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/json' --data "$definition" \
        "http://127.0.0.1:$port/v1/workflows/flow"
    if ! line=$("$LOADGEN_BIN" --url "http://127.0.0.1:$port" --path /v1/workflows/flow/runs \
        --method POST --body-file "$TMP/bodies" --clients "$CLIENTS" --runs "$RUNS" \
        --expect-status 201,202 --save-field "/id=$dir/ids" 2>"$dir/loadgen.err"); then
        echo "flow.sh: $label: rf-loadgen failed: $(tr '\n' ' ' <"$dir/loadgen.err")" >&2
        exit 1
    fi
    echo "  $label starts: $line" >&2
    python3 - "$port" "$dir/ids" "$label" "$LIMIT" <<'EOF'
import http.client, json, sys, threading, time

port, ids_file, label, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ids = [l.strip() for l in open(ids_file) if l.strip()]

def conn():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)

def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()

# Wait for the last run: poll the newest-started ones until none of a sample is live, then read
# every run (4 connections).
deadline = time.time() + 600
runs = {}
pending = list(ids)
while pending:
    if time.time() > deadline:
        sys.exit(f"flow.sh: {label}: {len(pending)} runs not finished after 600 s")
    lock = threading.Lock()
    still = []
    def read(part):
        c = conn()
        for rid in part:
            st, body = get(c, f"/v1/runs/{rid}")
            if st != 200:
                sys.exit(f"flow.sh: {label}: GET /v1/runs/{rid}: {st} {body[:200]!r}")
            run = json.loads(body)
            with lock:
                if run["status"] in ("succeeded", "failed", "cancelled"):
                    runs[rid] = run
                else:
                    still.append(rid)
    parts = [pending[i::4] for i in range(4)]
    threads = [threading.Thread(target=read, args=(p,)) for p in parts]
    for t in threads: t.start()
    for t in threads: t.join()
    pending = still
    if pending:
        time.sleep(0.5)

failed = [r for r in runs.values() if r["status"] != "succeeded"]
if failed:
    sys.exit(f"flow.sh: {label}: {len(failed)} runs did not succeed, e.g. {failed[0]['status']}")
first = min(r["created_ms"] for r in runs.values())
last = max(r["finished_ms"] for r in runs.values())
per_key_last, waits, spans = {}, [], {}
for r in runs.values():
    k = r["input"]["k"]
    per_key_last[k] = max(per_key_last.get(k, 0), r["finished_ms"] - first)
    att = r["steps"][0]["attempts"][0]
    waits.append(att["started_ms"] - r["created_ms"])
    spans.setdefault(k, []).append((att["started_ms"], att["finished_ms"]))
# The most runs of one key in their delay step at once (a finish at t frees before a start at t).
max_live = 0
for k, ss in spans.items():
    ev = sorted([(s, 1) for s, _ in ss] + [(f, -1) for _, f in ss], key=lambda e: (e[0], e[1]))
    live = 0
    for _, d in ev:
        live += d
        max_live = max(max_live, live)
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]
fin = list(per_key_last.values())
rate = len(runs) / max(0.001, (last - first) / 1000)
print(f"{label:<10} {len(runs):>6} {len(per_key_last):>5} {rate:>8.0f} {min(fin):>7} {q(fin, 0.5):>7} "
      f"{max(fin):>7} {max(fin) - min(fin):>7} {max_live:>8} {q(waits, 0.5):>7} {q(waits, 0.99):>7}")
EOF
    stop_pid "$RF_PID"
}

STEP="{\"id\":\"wait\",\"type\":\"delay\",\"ms\":$DELAY_MS}"
IDEAL=$(awk -v k="$KEYS" -v l="$LIMIT" -v d="$DELAY_MS" 'BEGIN { printf "%.0f", k * l * 1000 / d }')
echo "flow-control bench: $RUNS runs over $KEYS keys, delay ${DELAY_MS} ms each, --shards $SHARDS, --fsync $FSYNC"
echo "limited: concurrency {key: input.k, limit: $LIMIT}; ideal throughput $IDEAL runs/s (every slot busy)"
echo "finish_*: a key's last run finished, ms after the first run was created; spread = max - min"
printf '%-10s %6s %5s %8s %7s %7s %7s %7s %8s %7s %7s\n' run runs keys runs/s fin_min fin_p50 \
    fin_max spread max_live wait50 wait99
measure unlimited "{\"steps\":[$STEP]}"
measure limited "{\"concurrency\":{\"key\":\"{{input.k}}\",\"limit\":$LIMIT},\"steps\":[$STEP]}"

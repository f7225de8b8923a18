#!/usr/bin/env bash
# Schedules bench (issue 14): SCHEDULES schedules "@every 1s" (a noop workflow, overlap allow,
# catch_up none) fire for DURATION seconds on one daemon; prints the fire lateness (a run's
# created_ms minus the fire time its Idempotency-Key names, over a sample of the runs started in
# the window), the fires per second achieved against the SCHEDULES per second asked, and the same
# figures for REF_SCHEDULES schedules measured first in the same run (the reference: an idle
# scheduler on the same machine and build).
#
#   bench/schedules.sh                       # embedded store, fsync on, 2 shards, 10,000 schedules
#   SCHEDULES=1000 DURATION=10 SKIP_BUILD=1 bench/schedules.sh   # a quick check of the script
#
# Environment (all optional):
#   SCHEDULES=10000     schedules of the measured run                                 [10000]
#   REF_SCHEDULES=10    schedules of the reference run                                [10]
#   DURATION=20         seconds each run fires before it is measured                   [20]
#   SAMPLE=1000         runs read back per run for the lateness                        [1000]
#   CREATE_CLIENTS=16   concurrent connections creating the schedules                  [16]
#   SHARDS=2            ringflow --shards                                              [2]
#   FSYNC=always        the daemon's --fsync                                           [always]
#   SKIP_BUILD=1        do not run tools/build.sh (binaries already built)
#   RINGFLOW_BIN        the binary [build/release/src/app/ringflow]
#   DATA_ROOT=DIR       where the temporary data directory goes ($TMPDIR or /tmp)
#
# Everything listens on and talks to 127.0.0.1 only; the daemon this script starts is stopped by
# PID on exit. The daemon and the client share this machine's cores.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
no_args_but_help 26 "$@"
SCHEDULES=${SCHEDULES:-10000}
REF_SCHEDULES=${REF_SCHEDULES:-10}
DURATION=${DURATION:-20}
SAMPLE=${SAMPLE:-1000}
CREATE_CLIENTS=${CREATE_CLIENTS:-16}
SHARDS=${SHARDS:-2}
FSYNC=${FSYNC:-always}
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/release/bench/driver/rf-loadgen}
TMP=$(mktemp -d "${DATA_ROOT:-${TMPDIR:-/tmp}}/rf-bench-schedules.XXXXXX")
trap cleanup_bench EXIT
prepare_bench

# measure N LABEL: a fresh daemon, N schedules, DURATION seconds of fires; prints one table row.
measure() {
    local n=$1 label=$2
    start_embedded "$TMP/$label"
    python3 - "$RF_PORT" "$n" "$DURATION" "$SAMPLE" "$CREATE_CLIENTS" "$label" <<'EOF'
import http.client, json, random, statistics, sys, threading, time

port, n, duration, sample, clients, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]

def conn():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)

def req(c, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    return r.status, r.read()

c = conn()
st, _ = req(c, "PUT", "/v1/workflows/tick", {"steps": [{"id": "only", "type": "noop"}]})
assert st in (200, 201), st
t0 = time.time()
errors = []
def create(lo, hi):
    cc = conn()
    for i in range(lo, hi):
        st, body = req(cc, "PUT", f"/v1/schedules/s{i}", {"workflow": "tick", "cron": "@every 1s", "overlap": "allow", "catch_up": "none"})
        if st not in (200, 201):
            errors.append((st, body[:200]))
            return
per = (n + clients - 1) // clients
threads = [threading.Thread(target=create, args=(k * per, min(n, (k + 1) * per))) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors[:3]
created = time.time() - t0
c = conn()  # the first one sat idle through the creation (the daemon's --idle-timeout)

def started_total():
    st, text = req(c, "GET", "/metrics")
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith("rf_schedule_fires_total{outcome=\"started\"}"):
            total = float(line.split()[-1])
    return total

time.sleep(2)  # every schedule has fired at least once
f0, w0 = started_total(), time.time()
time.sleep(duration)
f1, w1 = started_total(), time.time()
req(c, "DELETE", "/v1/workflows/tick")  # later fires pass over: the listing below stays still
window_ms = (int(w0 * 1000), int(w1 * 1000))
# A sample of the window's runs: newest first pages, then each run's key.
ids, cursor = [], None
while len(ids) < sample * 20:
    path = "/v1/runs?workflow=tick&limit=1000" + (f"&cursor={cursor}" if cursor else "")
    st, body = req(c, "GET", path)
    doc = json.loads(body)
    ids += [r["id"] for r in doc["runs"] if window_ms[0] <= r["created_ms"] <= window_ms[1]]
    cursor = doc.get("next_cursor")
    if not cursor or (doc["runs"] and doc["runs"][-1]["created_ms"] < window_ms[0]):
        break
random.seed(1)
picked = random.sample(ids, min(sample, len(ids)))
late = []
for rid in picked:
    st, body = req(c, "GET", f"/v1/runs/{rid}")
    run = json.loads(body)
    fire_s = int(run["idempotency_key"].rsplit("@", 1)[1])
    late.append(run["created_ms"] - fire_s * 1000)
late.sort()
def q(p):
    return late[min(len(late) - 1, int(p * len(late)))] if late else float("nan")
rate = (f1 - f0) / (w1 - w0)
print(f"{label:<10} {n:>9} {created:>9.1f} {rate:>10.0f} {n:>10} {q(0.5):>8} {q(0.99):>8} {len(late):>7}")
EOF
    stop_pid "$RF_PID"
}

echo "schedules bench: @every 1s, noop workflow, --shards $SHARDS, --fsync $FSYNC, ${DURATION} s each"
echo "lateness = run created_ms - fire time (ms), over a sample of the window's runs"
printf '%-10s %9s %9s %10s %10s %8s %8s %7s\n' run schedules create_s fires/s asked/s p50_ms p99_ms sample
measure "$REF_SCHEDULES" reference
measure "$SCHEDULES" measured

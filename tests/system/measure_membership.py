"""bench/membership.sh's measurement (not collected by the system suite: its name is not
test_*): time from SIGTERM / kill -9 of one of two daemons sharing one PostgreSQL to the other
holding all 256 partitions (rf_partitions_held, polled every 20 ms), with membership
heartbeats in Redis (--redis-url) and with PostgreSQL's beat rows alone. Each trial is a fresh
pair of daemons on a fresh database. Prints one line per case and writes them to
$RF_MEASURE_OUT (default /tmp/rf-membership.txt)."""

import os
import signal
import statistics
import time

from engine_client import wait_until
from test_leader_election import cluster
from test_pg_spread import held, shared_by

N = int(os.environ.get("RF_MEASURE_TRIALS", "3"))


def trial(launch, pg, redis_url, how):
    _, ds = cluster(launch, pg, redis_url, 2)
    d1, d2 = ds
    wait_until(lambda: shared_by(*ds), 20.0, 0.2, "shared")
    time.sleep(3.0)  # the Redis view is trusted (a TTL of good beats), the rings settled
    t0 = time.monotonic()
    if how == "term":
        os.kill(d2.pid, signal.SIGTERM)
    else:
        d2.killed = True
        os.kill(d2.pid, signal.SIGKILL)
    while held(d1) != 256:
        time.sleep(0.02)
        assert time.monotonic() - t0 < 30
    dt = time.monotonic() - t0
    d2.wait(15.0)
    d1.stop()
    return dt


def test_measure(launch, pg, redis_server):
    out = []
    for i, how in enumerate(("term", "kill")):
        for mode in ("redis", "postgres"):
            ts = []
            for k in range(N):
                url = f"{redis_server.url}/{5 + k % 3}" if mode == "redis" else None
                if url:
                    redis_server.cli("-n", str(5 + k % 3), "FLUSHDB")
                ts.append(trial(launch, pg, url, how))
            out.append(f"{how:5} {mode:9} n={N} median={statistics.median(ts):.2f}s "
                       f"min={min(ts):.2f}s max={max(ts):.2f}s all={[round(t, 2) for t in ts]}")
    with open(os.environ.get("RF_MEASURE_OUT", "/tmp/rf-membership.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))

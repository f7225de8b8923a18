#pragma once
// Service level objectives (GET /v1/slo), computed from the daemon's own HTTP counters
// (http/stats.h): availability = the share of /v1 requests answered without a 5xx; latency = the
// share of /v1 requests (event streams aside: they last as long as the client wants) answered
// within the objective's threshold, read from the request-duration histogram at the largest
// bucket bound not above it. The error budget of each over the last 1 h, 24 h and 30 d comes from
// snapshots of the cumulative counts: one a minute for the last hour, one an hour for 30 days
// (SloWindows, 61 + 721 entries). They outlive restarts: the service saves its state (the
// snapshots and the lifetime counts, slo_state.h) every minute and at a clean stop, through a
// function its owner gives it (app/: <data-dir>/slo.json, written off the shard), and starts from
// it again, so the 24 h and 30 d budgets do not start over with every deploy.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "base/clock.h"
#include "base/result.h"
#include "reactor/task.h"

namespace rf::api {

struct Routes;
struct ServiceState;

struct SloObjectives {
  double availability = 0.999;  // (0, 1)
  int64_t latency_ms = 250;
  double latency_target = 0.99;  // (0, 1)
};

struct SloCounts {
  uint64_t requests = 0;  // /v1 requests answered
  uint64_t errors = 0;    // of which 5xx
  uint64_t timed = 0;     // /v1 requests that count for latency (no event streams)
  uint64_t slow = 0;      // of which over the threshold
};

// Snapshots of cumulative counts. Pure; its owner calls it from one thread.
class SloWindows {
 public:
  static constexpr size_t kMinutes = 61;  // an hour back, and the one before
  static constexpr size_t kHours = 721;   // 30 days back, and the one before

  // A snapshot at `now_ms` (the owner calls it every minute, and once at start with zeros). An
  // hourly snapshot is kept when the last one is an hour old.
  void Record(int64_t now_ms, const SloCounts& totals);

  struct Delta {
    SloCounts counts;
    int64_t covered_ms = 0;  // how far back the data goes (less than the window while young)
  };
  // The counts of the last `window_ms`: `totals` (now) less the newest snapshot at least
  // `window_ms` old, or the oldest one kept when none is that old.
  Delta Over(int64_t now_ms, int64_t window_ms, const SloCounts& totals) const;

  struct Snapshot {
    int64_t at_ms = 0;
    SloCounts counts;
  };
  // Oldest first; Restore takes them back (the newest kMinutes / kHours of each).
  std::vector<Snapshot> Minutes() const { return Oldest(minutes_); }
  std::vector<Snapshot> Hours() const { return Oldest(hours_); }
  void Restore(const std::vector<Snapshot>& minutes, const std::vector<Snapshot>& hours);

 private:
  template <size_t N>
  struct Ring {
    std::array<Snapshot, N> items;
    size_t next = 0;  // where the next one goes
    size_t size = 0;
    void Push(const Snapshot& s) {
      items[next] = s;
      next = (next + 1) % N;
      if (size < N) ++size;
    }
    const Snapshot& Newest(size_t back) const { return items[(next + N - 1 - back) % N]; }  // back < size
  };
  template <size_t N>
  static const Snapshot* Find(const Ring<N>& ring, int64_t cutoff_ms);
  template <size_t N>
  static std::vector<Snapshot> Oldest(const Ring<N>& ring);

  Ring<kMinutes> minutes_;
  Ring<kHours> hours_;
};

// The daemon's SLO state: the objectives, the windows (touched on shard 0 only) and where the
// counts come from. One per daemon.
class SloService {
 public:
  struct Persistence {
    std::string saved;  // the state saved last time (empty: none); unreadable: logged, ignored
    // Makes a state durable (off the shard); suspends. Empty: nothing is saved.
    std::function<reactor::Task<Status>(std::string)> save;
  };
  SloService(SloObjectives objectives, const ServiceState* state, Persistence persistence = {});

  // The cumulative counts now, summed over every shard's counters. Any thread.
  SloCounts Totals() const;
  // On shard 0: snapshots and saves every minute until `stop` is true. Suspends.
  reactor::Task<void> Sample(const bool* stop);
  // On shard 0 once Sample ended and requests are no longer served: saves the state. Suspends.
  reactor::Task<void> Close() { return Save(); }
  // The GET /v1/slo body. Shard 0.
  void Report(int64_t now_ms, Buffer& out) const;

  const SloObjectives& objectives() const { return objectives_; }
  double latency_bound_seconds() const { return bound_s_; }

 private:
  SloObjectives objectives_;
  const ServiceState* state_;
  double bound_s_ = 0;   // the histogram bound the threshold is read at
  size_t bound_index_ = 0;  // buckets [0, bound_index_] are fast
  int64_t started_ms_ = 0;
  SloCounts base_;  // the counts of earlier runs of the daemon (from the saved state)
  SloWindows windows_;
  Persistence persistence_;
  bool save_failing_ = false;  // logged once per streak of failures

  void Restore(int64_t now_ms);
  reactor::Task<void> Save();
};

// GET /v1/slo (read access; the daemon's, not a namespace's): the report of state->slo, 503 while
// it has none.
void AddSloRoute(Routes& routes, ServiceState* state);

}  // namespace rf::api

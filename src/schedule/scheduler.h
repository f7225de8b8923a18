#pragma once
// Scheduler: one per shard, the keeper of the schedules whose partition (PartitionOf of the
// qualified name) the engine's ring gives this shard. It fires the ones whose partition the
// shard holds (Coordinator::Holds), so in a cluster exactly one daemon fires a schedule, the
// one holding its partition, without an election. Everything here runs on its shard's thread;
// other shards reach it with SubmitTo (Schedulers::OwnerOf).
//
// A fire at time T starts a run through Coordinator::Start with the Idempotency-Key
// "schedule:<ns>/<name>@<T in Unix seconds>" on the schedule's own partition, or for a workflow
// with a concurrency key on the key's partition (engine/flow_control.h; maybe another shard's or
// daemon's), so a fire repeated after a crash, or by a daemon that took the partition over,
// meets the run it started instead of starting another. The namespace's quotas apply
// (starts per second, live runs) through the StartGate. The cursor (the last fire dealt with)
// is made durable after the start: a crash in between repeats the fire, which the key absorbs.
//
// Timing: an ordered set of (wake time, name) per shard; the loop sleeps until the earliest
// wake (at most 100 ms, so a stop or a new schedule is seen quickly) and reads the wall clock,
// or the --test-clock-file (tests only: a file holding Unix milliseconds).

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "obs/metrics.h"
#include "reactor/task.h"
#include "reactor/turns.h"
#include "schedule/spec.h"
#include "schedule/zone.h"
#include "store/store.h"

namespace rf::schedule {

struct SchedulerOptions {
  std::string zone_dir = "/usr/share/zoneinfo";
  std::string test_clock_file;  // non-empty: the scheduler's wall clock (Unix ms) is read from it
  size_t max_per_shard = 100'000;
};

// A request about a run that another instance holds, sent to that instance through the API's
// forwarding (api/forward.h): a fire's start on the partition of its concurrency key, and the
// overlap policy's look at (or cancel of) the previous run. The engine's type: its child runs
// on another daemon go the same way.
using RunRequest = engine::RemoteRequest;
using Forwarder = engine::RemoteRuns;

// The API's quota checks, for starts the scheduler makes (api/quotas.h).
// Any may be empty.
struct StartGate {
  std::function<bool(unsigned shard, std::string_view ns)> admit;          // starts per second
  std::function<int64_t(unsigned shard, std::string_view ns)> live_limit;  // live runs (0: none)
};

enum class Outcome : uint8_t {
  kStarted,            // a run was created
  kDuplicate,          // the fire's key met the run it had started (a repeat after a crash)
  kSkipped,            // overlap skip: the previous run had not finished
  kQueued,             // overlap queue: waits for the previous run (counted once per fire)
  kCancelledPrevious,  // overlap cancel_previous: the previous run was cancelled
  kMissed,             // catch-up none/latest: missed while down, not started
  kDropped,            // beyond the 100 fires that may wait
  kLimited,            // a quota refused the start; tried again a second later
  kUnavailable,        // the store or partition was unavailable; tried again
  kWorkflowMissing,    // the workflow (version) no longer exists; the fire is passed over
  kFailed,             // the start failed otherwise; the fire is passed over
  kCount
};
std::string_view OutcomeName(Outcome o);

struct SchedulerStats {
  obs::Gauge active, paused;
  std::array<obs::Counter, static_cast<size_t>(Outcome::kCount)> fires;
  obs::Histogram lateness;  // fire time -> run started (by the scheduler's clock)
  obs::Counter store_errors;
};

struct PutResult {
  bool created = false;
  std::string json;                  // the schedule as GET shows it
  std::optional<SpecError> invalid;  // the time zone is unknown: 422
};

class Scheduler {
 public:
  Scheduler(unsigned shard, const SchedulerOptions& options, engine::Engine* engine,
            std::unique_ptr<store::ScheduleStore> store, const StartGate* gate,
            SchedulerStats* stats, const Forwarder* forward = nullptr);
  ~Scheduler();

  // On its shard, after the engine opened: loads its schedules and starts firing. Errors: the
  // store's (a file that does not parse).
  reactor::Task<Status> Open();
  reactor::Task<void> Close();

  // The API's commands (on this shard). `name` is qualified. Suspend. Errors: kNotFound,
  // kConflict (too many schedules), the store's.
  reactor::Task<Result<PutResult>> Put(std::string name, Spec spec);
  reactor::Task<Status> Delete(std::string name);
  reactor::Task<Result<std::string>> SetPaused(std::string name, bool paused);
  Result<std::string> Get(const std::string& name) const;
  // The schedules of namespace `ns` here, as (plain name, JSON), by name.
  std::vector<std::pair<std::string, std::string>> List(std::string_view ns) const;

 private:
  struct Entry {
    store::ScheduleRow row;
    Spec spec;
    std::shared_ptr<const Zone> zone;
    int64_t wake_ms = 0;      // its key in wake_ (kNever: not in it)
    int64_t queued_fire = 0;  // the fire last counted as queued
    bool held =
        false;  // the shard held its partition at the last look (catch-up when it starts to)
  };
  struct Pending {
    int64_t total = 0;
    std::deque<int64_t> tail;  // the last kMaxPendingFires + 1 fire times
  };

  static reactor::Task<void> Loop(Scheduler* self);
  reactor::Task<void> Tick();
  reactor::Task<void> Process(std::string name);
  // Where a run of the fire lives (scheduler_route.cc): the owner shard of its partition, or
  // the instance holding it. `ns` the schedule's namespace; `plain` the workflow's plain name;
  // `home` the schedule's own partition (where a fire goes when the key's cannot be reached).
  reactor::Task<Result<engine::RunView>> StartRun(engine::StartCommand cmd, std::string ns,
                                                  std::string plain, bool latest, uint32_t home);
  reactor::Task<Result<engine::RunView>> StartHere(engine::StartCommand cmd);
  reactor::Task<Result<engine::RunView>> GetRun(engine::RunId id, std::string ns);
  reactor::Task<Result<engine::RunView>> CancelRun(engine::RunId id, std::string ns);
  // GetRun and CancelRun: on the owner shard, or forwarded to the instance holding the run.
  reactor::Task<Result<engine::RunView>> OnRun(engine::RunId id, std::string ns, bool cancel);
  reactor::Task<void> Flush();
  reactor::Task<void> Reload();
  reactor::Task<int64_t> ReadClock();
  reactor::Task<Result<std::shared_ptr<const Zone>>> ZoneFor(std::string name);
  std::optional<int64_t> NextAfter(const Entry& e, int64_t ms) const;
  Pending PendingUpTo(const Entry& e, int64_t now_ms) const;
  void CatchUp(Entry& e, int64_t now_ms);
  void Advance(Entry& e, int64_t fire_ms, const std::string* run);
  void Reschedule(Entry& e, int64_t retry_at = 0);
  void Count(Outcome o, uint64_t n = 1) { stats_->fires[static_cast<size_t>(o)].Add(n); }
  void UpdateGauges();
  std::string View(const Entry& e) const;
  Result<Entry> Make(store::ScheduleRow row);  // parses row.spec (zone loaded by the caller)
  std::vector<uint32_t> Partitions() const;

  const unsigned shard_;
  const SchedulerOptions& options_;
  engine::Engine* engine_;
  std::unique_ptr<store::ScheduleStore> store_;
  const StartGate* gate_;
  SchedulerStats* stats_;
  const Forwarder* forward_;
  std::map<std::string, Entry> entries_;
  std::set<std::pair<int64_t, std::string>> wake_;
  std::map<std::string, store::ScheduleFire> unsaved_;  // fires whose cursor is not yet durable
  std::map<std::string, std::shared_ptr<const Zone>> zones_;  // bounded cache
  reactor::Turns turns_;  // the loop's work and the API's commands do not interleave
  int64_t clock_ms_ = 0;  // the last read of the test clock
  Nanos last_reload_ = 0;
  bool open_ = false;
  bool stopping_ = false;
  reactor::TaskGroup tasks_;
};

// Every shard's scheduler. Built before the reactor runs; Open/Close from shard 0.
class Schedulers {
 public:
  Schedulers(engine::Engine* engine, SchedulerOptions options, store::StoreFactory* stores,
             size_t shards);
  ~Schedulers();
  // Quota checks for scheduled starts; before Open.
  void SetStartGate(StartGate gate) { gate_ = std::move(gate); }
  // Requests for runs another instance holds (fires of a key it holds, overlap looks); before
  // Open. Not set: such a run is unavailable, and the fire is tried again.
  void SetForwarder(Forwarder f) { forward_ = std::move(f); }
  // Whether the store keeps schedules (else the API answers 503).
  bool available() const { return available_; }
  Scheduler& On(unsigned shard) { return *shards_[shard]; }
  // The shard that keeps schedule `qualified`.
  unsigned OwnerOf(std::string_view qualified) const;
  size_t shards() const { return shards_.size(); }
  reactor::Task<Status> Open();
  reactor::Task<void> Close();
  // Every shard's schedules are loaded (the daemon is not ready before). Any thread.
  bool open() const { return open_.load(std::memory_order_acquire); }
  const std::atomic<bool>* open_flag() const { return &open_; }
  // rf_schedules{state}, rf_schedule_fires_total{outcome}, rf_schedule_lateness_seconds.
  void RenderMetrics(std::string& out) const;

 private:
  engine::Engine* engine_;
  SchedulerOptions options_;
  StartGate gate_;
  Forwarder forward_;
  bool available_ = false;
  std::atomic<bool> open_{false};
  std::vector<std::unique_ptr<SchedulerStats>> stats_;
  std::vector<std::unique_ptr<Scheduler>> shards_;
};

}  // namespace rf::schedule

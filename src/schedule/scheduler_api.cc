// The API's half of the scheduler: commands and views (on the owner shard), and Schedulers,
// which builds, opens and closes every shard's and renders their metrics.

#include <algorithm>
#include <climits>

#include "base/hash_ring.h"
#include "base/tenancy.h"
#include "json/parse.h"
#include "json/writer.h"
#include "obs/log.h"
#include "reactor/submit_to.h"
#include "schedule/scheduler.h"

namespace rf::schedule {
namespace {

constexpr int64_t kNever = INT64_MAX;
constexpr size_t kNextFires = 5;

struct TurnGuard {
  reactor::Turns& t;
  ~TurnGuard() { t.Release(); }
};

json::Value FireTime(int64_t ms, const Zone& zone) {
  return json::Object{{"at", FormatRfc3339(ms / 1000, zone)}, {"at_ms", ms}};
}

}  // namespace

std::string Scheduler::View(const Entry& e) const {
  const ScopedName scoped = SplitQualified(e.row.name);
  json::Object o{{"name", std::string(scoped.name)},
                 {"namespace", std::string(scoped.ns)},
                 {"workflow", e.spec.workflow}};
  if (e.spec.version > 0) o.emplace_back("version", e.spec.version);
  o.emplace_back("input", e.spec.input);
  o.emplace_back("cron", e.spec.cron_text);
  o.emplace_back("timezone", e.spec.timezone);
  o.emplace_back("overlap", std::string(OverlapName(e.spec.overlap)));
  o.emplace_back("catch_up", std::string(CatchUpName(e.spec.catch_up)));
  o.emplace_back("paused", e.row.paused);
  o.emplace_back("created_ms", e.row.created_ms);
  o.emplace_back("updated_ms", e.row.updated_ms);
  // The cursor is the last fire dealt with when it is a fire time; a put or resume sets it to
  // the time of the change, which is not one (or, if it is, no earlier fire is owed anyway).
  const auto again = NextAfter(e, e.row.cursor_ms - 1000);
  o.emplace_back("last_fire", again && *again == e.row.cursor_ms
                                  ? FireTime(e.row.cursor_ms, *e.zone)
                                  : json::Value());
  o.emplace_back("last_run", e.row.last_run.empty() ? json::Value() : json::Value(e.row.last_run));
  json::Array next;
  const int64_t now = options_.test_clock_file.empty() ? WallNow() / kMillis : clock_ms_;
  int64_t t = std::max(e.row.cursor_ms, now);
  for (size_t i = 0; i < kNextFires; ++i) {
    auto n = NextAfter(e, t);
    if (!n) break;
    next.push_back(FireTime(*n, *e.zone));
    t = *n;
  }
  o.emplace_back("next_fires", std::move(next));
  return json::ToString(json::Value(std::move(o)));
}

Result<std::string> Scheduler::Get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return Error{Errc::kNotFound, "no schedule " + DescribeName(name)};
  return View(it->second);
}

std::vector<std::pair<std::string, std::string>> Scheduler::List(std::string_view ns) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, e] : entries_) {
    const ScopedName scoped = SplitQualified(name);
    if (scoped.ns == ns) out.emplace_back(std::string(scoped.name), View(e));
  }
  return out;
}

reactor::Task<Result<PutResult>> Scheduler::Put(std::string name, Spec spec) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  if (!open_) co_return Error{Errc::kUnavailable, "schedules are loading; retry"};
  auto zone = co_await ZoneFor(spec.timezone);  // suspends
  if (!zone) {
    PutResult bad;
    bad.invalid = SpecError{"/timezone", zone.error().context};
    co_return bad;
  }
  const int64_t now = co_await ReadClock();  // suspends
  const std::string text = SpecJson(spec);
  auto it = entries_.find(name);
  if (it == entries_.end() && entries_.size() >= options_.max_per_shard)
    co_return Error{Errc::kConflict, "too many schedules on this shard (" +
                                         std::to_string(options_.max_per_shard) + ")"};
  PutResult out;
  out.created = it == entries_.end();
  if (!out.created && it->second.row.spec == text && it->second.row.paused == spec.paused) {
    out.json = View(it->second);  // the same schedule again: nothing changes
    co_return out;
  }
  store::ScheduleRow row;
  row.name = name;
  row.partition = PartitionOf(name);
  row.spec = text;
  row.paused = spec.paused;
  row.created_ms = out.created ? WallNow() / kMillis : it->second.row.created_ms;
  row.updated_ms = std::max(WallNow() / kMillis, out.created ? 0 : it->second.row.updated_ms + 1);
  // A new or changed schedule fires from now on: what the old spec would have fired before
  // is not owed under the new one.
  row.cursor_ms = std::max(now, out.created ? 0 : it->second.row.cursor_ms);
  if (!out.created) row.last_run = it->second.row.last_run;  // overlap still sees the last run
  Status st = co_await store_->Put(row);                     // suspends
  if (!st) co_return st.error();
  if (!out.created && it->second.wake_ms != kNever) wake_.erase({it->second.wake_ms, name});
  Entry e;
  e.row = std::move(row);
  e.spec = std::move(spec);
  e.zone = *zone;
  e.held = engine::Coordinator::Local().Holds(e.row.partition);
  e.wake_ms = kNever;
  unsaved_.erase(name);  // the row written holds the newest cursor
  Entry& in = entries_[name] = std::move(e);
  Reschedule(in);
  UpdateGauges();
  out.json = View(in);
  co_return out;
}

reactor::Task<Status> Scheduler::Delete(std::string name) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  if (!open_) co_return Error{Errc::kUnavailable, "schedules are loading; retry"};
  auto it = entries_.find(name);
  if (it == entries_.end()) co_return Error{Errc::kNotFound, "no schedule " + DescribeName(name)};
  Status st = co_await store_->Delete(name);  // suspends
  if (!st && st.error().code != Errc::kNotFound) co_return st;
  it = entries_.find(name);
  if (it != entries_.end()) {
    if (it->second.wake_ms != kNever) wake_.erase({it->second.wake_ms, name});
    entries_.erase(it);
  }
  unsaved_.erase(name);
  UpdateGauges();
  co_return Status{};
}

reactor::Task<Result<std::string>> Scheduler::SetPaused(std::string name, bool paused) {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  if (!open_) co_return Error{Errc::kUnavailable, "schedules are loading; retry"};
  auto it = entries_.find(name);
  if (it == entries_.end()) co_return Error{Errc::kNotFound, "no schedule " + DescribeName(name)};
  if (it->second.row.paused == paused) co_return View(it->second);
  const int64_t now = co_await ReadClock();  // suspends
  store::ScheduleRow row = it->second.row;
  row.paused = paused;
  row.updated_ms = std::max(WallNow() / kMillis, row.updated_ms + 1);
  // Resuming does not fire what fell in the pause.
  if (!paused) row.cursor_ms = std::max(row.cursor_ms, now);
  Status st = co_await store_->Put(row);  // suspends
  if (!st) co_return st.error();
  it = entries_.find(name);
  if (it == entries_.end()) co_return Error{Errc::kNotFound, "no schedule " + DescribeName(name)};
  it->second.row = std::move(row);
  it->second.spec.paused = paused;
  unsaved_.erase(name);
  Reschedule(it->second);
  UpdateGauges();
  co_return View(it->second);
}

// --- Schedulers ------------------------------------------------------------------------------

Schedulers::Schedulers(engine::Engine* engine, SchedulerOptions options,
                       store::StoreFactory* stores, size_t shards)
    : engine_(engine), options_(std::move(options)) {
  for (unsigned i = 0; i < shards; ++i) {
    auto store = stores->MakeScheduleStore(i);
    if (!store) return;
    stats_.push_back(std::make_unique<SchedulerStats>());
    shards_.push_back(std::make_unique<Scheduler>(i, options_, engine_, std::move(store), &gate_,
                                                  stats_.back().get(), &forward_));
  }
  available_ = shards_.size() == shards;
}

Schedulers::~Schedulers() = default;

unsigned Schedulers::OwnerOf(std::string_view qualified) const {
  return engine_->OwnerOf(PartitionOf(qualified));
}

namespace {

reactor::Task<Status> OpenOn(Scheduler* s) { return s->Open(); }
reactor::Task<void> OpenInto(unsigned shard, Scheduler* s, Status* out) {
  auto op = reactor::SubmitTo(shard, &OpenOn, s);
  *out = co_await op;  // suspends
}
reactor::Task<void> CloseOn(Scheduler* s) { return s->Close(); }

}  // namespace

reactor::Task<Status> Schedulers::Open() {
  if (!available_) {
    open_.store(true, std::memory_order_release);
    co_return Status{};
  }
  // Every shard's at once: each reads its own partitions' rows (a restart waits for the slowest).
  std::vector<Status> opened(shards_.size());
  reactor::TaskGroup group;
  for (unsigned i = 0; i < shards_.size(); ++i) reactor::Spawn(OpenInto(i, shards_[i].get(), &opened[i]), &group);
  co_await group.Wait();  // suspends
  for (unsigned i = 0; i < shards_.size(); ++i) {
    if (!opened[i])
      co_return Error{opened[i].error().code,
                      "schedules of shard " + std::to_string(i) + ": " + opened[i].error().context};
  }
  open_.store(true, std::memory_order_release);
  co_return Status{};
}

reactor::Task<void> Schedulers::Close() {
  for (unsigned i = 0; i < shards_.size(); ++i) {
    auto op = reactor::SubmitTo(i, &CloseOn, shards_[i].get());
    co_await op;  // suspends
  }
}

void Schedulers::RenderMetrics(std::string& out) const {
  int64_t active = 0, paused = 0;
  std::array<uint64_t, static_cast<size_t>(Outcome::kCount)> fires{};
  uint64_t errors = 0;
  std::vector<const obs::Histogram*> lateness;
  for (const auto& s : stats_) {
    active += s->active.Get();
    paused += s->paused.Get();
    for (size_t i = 0; i < fires.size(); ++i) fires[i] += s->fires[i].Get();
    errors += s->store_errors.Get();
    lateness.push_back(&s->lateness);
  }
  obs::TextExposition x(out);
  x.Family("rf_schedules", "gauge", "Schedules kept by this daemon, by state.");
  x.Sample("rf_schedules", "state=\"active\"", static_cast<double>(active));
  x.Sample("rf_schedules", "state=\"paused\"", static_cast<double>(paused));
  x.Family("rf_schedule_fires_total", "counter", "Schedule fires dealt with, by outcome.");
  for (size_t i = 0; i < fires.size(); ++i)
    x.SampleU("rf_schedule_fires_total",
              "outcome=\"" + std::string(OutcomeName(static_cast<Outcome>(i))) + "\"", fires[i]);
  x.Family("rf_schedule_lateness_seconds", "histogram", "From a fire's time to its run's start.");
  x.HistogramSum("rf_schedule_lateness_seconds", "", lateness);
  x.Family("rf_schedule_store_errors_total", "counter",
           "Fire cursors that could not be written (retried).");
  x.SampleU("rf_schedule_store_errors_total", "", errors);
}

}  // namespace rf::schedule

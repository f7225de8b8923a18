// The firing half of the scheduler: the loop, catch-up, overlap, starts, durable cursors.
// The API's half (commands, views) is scheduler_api.cc.

#include "schedule/scheduler.h"

#include <algorithm>
#include <climits>

#include "base/hash_ring.h"
#include "base/tenancy.h"
#include "json/parse.h"
#include "obs/log.h"
#include "reactor/offload.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"

namespace rf::schedule {
namespace {

constexpr int64_t kNever = INT64_MAX;
constexpr Nanos kMaxSleep = 100 * kMillis;
constexpr size_t kWave = 512;  // fires started at once by one shard
constexpr Nanos kReloadEvery = 2 * kSeconds;
// Catch-up looks back at most this far for cron expressions (an @every counts exactly).
constexpr int64_t kLookBackMs = int64_t{400} * 86400 * 1000;

int64_t FloorSeconds(int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); }

struct TurnGuard {
  reactor::Turns& t;
  ~TurnGuard() { t.Release(); }
};

}  // namespace

std::string_view OutcomeName(Outcome o) {
  static constexpr std::string_view kNames[] = {
      "started", "duplicate", "skipped", "queued",      "cancelled_previous",
      "missed",  "dropped",   "limited", "unavailable", "workflow_missing",
      "failed"};
  return kNames[static_cast<size_t>(o)];
}

Scheduler::Scheduler(unsigned shard, const SchedulerOptions& options, engine::Engine* engine,
                     std::unique_ptr<store::ScheduleStore> store, const StartGate* gate,
                     SchedulerStats* stats, const Forwarder* forward)
    : shard_(shard),
      options_(options),
      engine_(engine),
      store_(std::move(store)),
      gate_(gate),
      stats_(stats),
      forward_(forward) {}

Scheduler::~Scheduler() = default;

std::vector<uint32_t> Scheduler::Partitions() const {
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < kPartitions; ++p)
    if (engine_->OwnerOf(p) == shard_) out.push_back(p);
  return out;
}

reactor::Task<int64_t> Scheduler::ReadClock() {
  if (options_.test_clock_file.empty()) co_return WallNow() / kMillis;
  // Test-only: a blocking read, so off the shard.
  auto op = reactor::Offload([path = options_.test_clock_file]() -> int64_t {
    FILE* f = std::fopen(path.c_str(), "re");
    if (!f) return -1;
    long long v = -1;
    if (std::fscanf(f, "%lld", &v) != 1) v = -1;
    std::fclose(f);
    return v;
  });
  const int64_t v = co_await op;  // suspends
  if (v >= 0) clock_ms_ = v;
  co_return clock_ms_;
}

reactor::Task<Result<std::shared_ptr<const Zone>>> Scheduler::ZoneFor(std::string name) {
  if (auto it = zones_.find(name); it != zones_.end()) co_return it->second;
  auto op = reactor::Offload([dir = options_.zone_dir, name] { return LoadZone(dir, name); });
  auto z = co_await op;  // suspends
  if (!z) co_return z.error();
  if (zones_.size() >= 256) zones_.clear();  // bounded; a zone is a few KiB
  zones_[name] = *z;
  co_return *z;
}

Result<Scheduler::Entry> Scheduler::Make(store::ScheduleRow row) {
  auto doc = json::Parse(row.spec, {.max_bytes = 4u << 20, .max_depth = 512});
  if (!doc)
    return Error{Errc::kCorrupt,
                 "schedule " + row.name + ": spec is not JSON: " + doc.error().context};
  std::vector<SpecError> errors;
  Entry e;
  e.spec = ParseSpec(*doc, SplitQualified(row.name).name, errors);
  if (!errors.empty())
    return Error{Errc::kCorrupt, "schedule " + row.name + ": " + errors.front().pointer + ": " +
                                     errors.front().message};
  e.spec.paused = row.paused;
  e.row = std::move(row);
  return e;
}

std::optional<int64_t> Scheduler::NextAfter(const Entry& e, int64_t ms) const {
  auto n = NextFire(e.spec.cron, *e.zone, FloorSeconds(ms));
  if (!n) return std::nullopt;
  return *n * 1000;
}

Scheduler::Pending Scheduler::PendingUpTo(const Entry& e, int64_t now_ms) const {
  Pending p;
  const size_t keep = kMaxPendingFires + 1;
  if (e.spec.cron.every > 0) {
    const int64_t step = e.spec.cron.every * 1000;
    auto first = NextAfter(e, e.row.cursor_ms);
    if (!first || *first > now_ms) return p;
    p.total = (now_ms - *first) / step + 1;
    const int64_t last = *first + (p.total - 1) * step;
    for (int64_t i = std::min<int64_t>(p.total, keep) - 1; i >= 0; --i)
      p.tail.push_back(last - i * step);
    return p;
  }
  int64_t t = std::max(e.row.cursor_ms, now_ms - kLookBackMs);
  while (true) {
    auto n = NextAfter(e, t);
    if (!n || *n > now_ms) break;
    ++p.total;
    p.tail.push_back(*n);
    if (p.tail.size() > keep) p.tail.pop_front();
    t = *n;
  }
  return p;
}

void Scheduler::Reschedule(Entry& e, int64_t retry_at) {
  if (e.wake_ms != kNever) wake_.erase({e.wake_ms, e.row.name});
  e.wake_ms = kNever;
  if (e.row.paused) return;
  auto next = NextAfter(e, e.row.cursor_ms);
  if (!next) return;
  e.wake_ms = std::max(*next, retry_at);
  wake_.insert({e.wake_ms, e.row.name});
}

void Scheduler::Advance(Entry& e, int64_t fire_ms, const std::string* run) {
  e.row.cursor_ms = std::max(e.row.cursor_ms, fire_ms);
  if (run) e.row.last_run = *run;
  unsaved_[e.row.name] = store::ScheduleFire{e.row.name, e.row.cursor_ms, e.row.last_run};
}

void Scheduler::CatchUp(Entry& e, int64_t now_ms) {
  Pending p = PendingUpTo(e, now_ms);
  if (p.total == 0) return;
  const auto n = static_cast<int64_t>(p.tail.size());
  switch (e.spec.catch_up) {
    case CatchUp::kNone:
      Count(Outcome::kMissed, static_cast<uint64_t>(p.total));
      Advance(e, p.tail.back(), nullptr);
      break;
    case CatchUp::kLatest:
      if (p.total >= 2) {
        Count(Outcome::kMissed, static_cast<uint64_t>(p.total - 1));
        Advance(e, p.tail[static_cast<size_t>(n - 2)], nullptr);
      }
      break;
    case CatchUp::kAll:
      if (p.total > static_cast<int64_t>(kMaxPendingFires)) {
        Count(Outcome::kDropped, static_cast<uint64_t>(p.total) - kMaxPendingFires);
        Advance(e, p.tail[static_cast<size_t>(n) - kMaxPendingFires - 1], nullptr);
      }
      break;
  }
  if (p.total > 0)
    RF_LOG(kInfo, "schedule catch-up", {"schedule", e.row.name}, {"missed_fires", p.total},
           {"policy", CatchUpName(e.spec.catch_up)});
}

reactor::Task<Status> Scheduler::Open() {
  const int64_t now = co_await ReadClock();         // suspends
  auto rows = co_await store_->Load(Partitions());  // suspends
  if (!rows) co_return rows.error();
  for (store::ScheduleRow& row : *rows) {
    auto e = Make(std::move(row));
    if (!e) co_return e.error();
    auto zone = co_await ZoneFor(e->spec.timezone);  // suspends
    if (!zone) {
      // The zone files changed under us: keep the schedule (readable, deletable), not firing.
      RF_LOG(kError, "schedule's time zone cannot be loaded; it does not fire until it can",
             {"schedule", e->row.name}, {"error", zone.error().ToString()});
      zone = Zone::Fixed("UTC", 0);
      e->row.paused = true;
    }
    e->zone = *zone;
    std::string name = e->row.name;
    Entry& in = entries_[name] = std::move(*e);
    in.wake_ms = kNever;
    // Fires missed while the daemon was down: the catch-up policy decides (a partition this
    // shard comes to hold later gets the same when it does, in Process).
    if (!in.row.paused && engine::Coordinator::Local().Holds(in.row.partition)) {
      in.held = true;
      CatchUp(in, now);
    }
    Reschedule(in, now);
  }
  UpdateGauges();
  last_reload_ = MonoNow();
  open_ = true;
  reactor::Spawn(Loop(this), &tasks_);
  co_return Status{};
}

reactor::Task<void> Scheduler::Close() {
  stopping_ = true;
  co_await tasks_.Wait();  // suspends
}

reactor::Task<void> Scheduler::Loop(Scheduler* self) {
  while (!self->stopping_) {
    co_await self->Tick();  // suspends
    if (self->stopping_) break;
    Nanos sleep = kMaxSleep;
    if (self->options_.test_clock_file.empty() && !self->wake_.empty()) {
      const int64_t until = self->wake_.begin()->first - WallNow() / kMillis;
      sleep = std::clamp<Nanos>(until * kMillis, kMillis, kMaxSleep);
    }
    co_await reactor::Sleep(sleep);  // suspends
  }
}

reactor::Task<void> Scheduler::Tick() {
  co_await turns_.Take();  // suspends
  TurnGuard g{turns_};
  if (store_->shared() && MonoNow() - last_reload_ >= kReloadEvery) co_await Reload();  // suspends
  const int64_t now = co_await ReadClock();                                             // suspends
  // Names, not iterators: a command may change the set while a fire suspends (it waits for the
  // turn, so it cannot, but a fire re-inserts its own entry).
  std::vector<std::string> due;
  for (auto it = wake_.begin(); it != wake_.end() && it->first <= now && due.size() < 10'000; ++it)
    due.push_back(it->second);
  // The due fires start concurrently (in waves of kWave): their runs' creations then share
  // the coordinator's group commits instead of waiting for one fdatasync each.
  reactor::TaskGroup wave;
  for (size_t i = 0; i < due.size() && !stopping_; i += kWave) {
    for (size_t j = i; j < due.size() && j < i + kWave; ++j) reactor::Spawn(Process(due[j]), &wave);
    co_await wave.Wait();  // suspends
  }
  co_await Flush();  // suspends
}

reactor::Task<void> Scheduler::Flush() {
  if (unsaved_.empty()) co_return;
  std::vector<store::ScheduleFire> batch;
  batch.reserve(unsaved_.size());
  for (auto& [name, f] : unsaved_) batch.push_back(f);
  Status st = co_await store_->Fired(std::move(batch));  // suspends
  if (!st) {
    // Kept for the next turn; a repeat of these fires is absorbed by their keys meanwhile.
    stats_->store_errors.Add();
    RF_LOG(kWarn, "cannot record schedule fires; retrying", {"error", st.error().ToString()});
    co_return;
  }
  unsaved_.clear();
}

reactor::Task<void> Scheduler::Process(std::string name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) co_return;
  Entry& e = it->second;  // stable: only commands erase entries, and they wait for the turn
  const int64_t now =
      clock_ms_ > 0 && !options_.test_clock_file.empty() ? clock_ms_ : WallNow() / kMillis;
  // A fire that must wait (queue, quotas, an unheld partition) is looked at again a second
  // later; under a test clock, which stands still between a test's steps, at every turn.
  const int64_t retry_at = options_.test_clock_file.empty() ? now + 1000 : now;
  engine::Coordinator& coord = engine::Coordinator::Local();
  if (e.row.paused) {
    Reschedule(e);
    co_return;
  }
  if (!coord.Holds(e.row.partition)) {
    e.held = false;
    Reschedule(e, retry_at);
    co_return;
  }
  if (!e.held) {
    e.held = true;
    CatchUp(e, now);
  }
  Pending p = PendingUpTo(e, now);
  if (p.total == 0) {
    Reschedule(e);
    co_return;
  }
  if (p.total > static_cast<int64_t>(kMaxPendingFires)) {
    Count(Outcome::kDropped, static_cast<uint64_t>(p.total) - kMaxPendingFires);
    Advance(e, p.tail[p.tail.size() - kMaxPendingFires - 1], nullptr);
  }
  const int64_t fire = *NextAfter(e, e.row.cursor_ms);
  const std::string ns(SplitQualified(name).ns);

  auto previous = e.row.last_run.empty() ? Result<engine::RunId>(Error{Errc::kNotFound, ""})
                                         : engine::ParseRunId(e.row.last_run);
  if (previous && e.spec.overlap != Overlap::kAllow) {
    // Where it lives (another shard or daemon when the workflow has a concurrency key). A run
    // queued behind its key is not finished: it counts as the live run.
    auto run = co_await GetRun(*previous, ns);  // suspends
    if (stopping_ || !entries_.contains(name)) co_return;
    if (run && !run->terminal) {
      switch (e.spec.overlap) {
        case Overlap::kSkip:
          Count(Outcome::kSkipped);
          Advance(e, fire, nullptr);
          Reschedule(e);
          co_return;
        case Overlap::kQueue:
          if (e.queued_fire != fire) Count(Outcome::kQueued);
          e.queued_fire = fire;
          Reschedule(e, retry_at);
          co_return;
        case Overlap::kCancelPrevious: {
          auto c = co_await CancelRun(*previous, ns);  // suspends
          if (stopping_ || !entries_.contains(name)) co_return;
          if (c) Count(Outcome::kCancelledPrevious);
          break;
        }
        case Overlap::kAllow:
          break;
      }
    }
  }

  const std::string workflow = QualifiedName(ns, e.spec.workflow);
  const engine::Registry& reg = coord.registry();
  const std::shared_ptr<const engine::Definition>* def =
      e.spec.version > 0 ? reg.Find(workflow, e.spec.version) : reg.Latest(workflow);
  if (!def) {
    Count(Outcome::kWorkflowMissing);
    RF_LOG(kWarn, "schedule's workflow does not exist; fire passed over", {"schedule", name},
           {"workflow", workflow}, {"version", e.spec.version});
    Advance(e, fire, nullptr);
    Reschedule(e);
    co_return;
  }
  if (gate_ && gate_->admit && !gate_->admit(shard_, ns)) {
    Count(Outcome::kLimited);
    Reschedule(e, retry_at);
    co_return;
  }
  engine::StartCommand cmd;
  cmd.def = *def;
  cmd.input = e.spec.input;
  cmd.idempotency_key = "schedule:" + std::string(ns) + "/" +
                        std::string(SplitQualified(name).name) + "@" + std::to_string(fire / 1000);
  // A workflow with a concurrency key: where an API start of the same input goes, so the run is
  // counted with the key's other runs (the fire's key is the same wherever it goes, and the key
  // value is the spec's input's, so a repeat of the fire goes there too).
  cmd.partition = (*def)->flow_controlled()
                      ? engine_->PartitionForStart(**def, cmd.input, cmd.idempotency_key)
                      : e.row.partition;
  if (gate_ && gate_->live_limit) cmd.live_limit = gate_->live_limit(shard_, ns);
  const auto* latest = reg.Latest(workflow);
  const bool is_latest = latest && (*latest)->version == (*def)->version;
  auto r = co_await StartRun(std::move(cmd), ns, std::string(SplitQualified(workflow).name),
                             is_latest, e.row.partition);  // suspends
  if (stopping_ || !entries_.contains(name)) co_return;
  if (!r) {
    switch (r.error().code) {
      case Errc::kLimited:
        Count(Outcome::kLimited);
        Reschedule(e, retry_at);
        co_return;
      case Errc::kNotHeld:
      case Errc::kUnavailable:
      case Errc::kRetryLater:
        Count(Outcome::kUnavailable);
        Reschedule(e, retry_at);
        co_return;
      default:
        Count(Outcome::kFailed);
        RF_LOG(kWarn, "schedule fire could not start its run; passed over", {"schedule", name},
               {"error", r.error().ToString()});
        Advance(e, fire, nullptr);
        Reschedule(e);
        co_return;
    }
  }
  std::string id;
  if (auto v = json::Parse(r->json, {.max_bytes = r->json.size() + 1, .max_depth = 512})) {
    if (const json::Value* x = v->Find("id"); x && x->is_string()) id = x->as_string();
  }
  Count(r->created ? Outcome::kStarted : Outcome::kDuplicate);
  const int64_t done = options_.test_clock_file.empty() ? WallNow() / kMillis : now;
  stats_->lateness.ObserveNanos(std::max<int64_t>(0, done - fire) * kMillis);
  Advance(e, fire, &id);
  Reschedule(e);
}

reactor::Task<void> Scheduler::Reload() {
  last_reload_ = MonoNow();
  auto rows = co_await store_->Load(Partitions());  // suspends
  if (!rows) {
    stats_->store_errors.Add();
    RF_LOG(kWarn, "cannot reload schedules", {"error", rows.error().ToString()});
    co_return;
  }
  std::set<std::string> seen;
  for (store::ScheduleRow& row : *rows) {
    seen.insert(row.name);
    auto it = entries_.find(row.name);
    if (it != entries_.end() && row.updated_ms <= it->second.row.updated_ms) {
      // Another daemon fired it (it held the partition then): its cursor counts.
      if (row.cursor_ms > it->second.row.cursor_ms) {
        it->second.row.cursor_ms = row.cursor_ms;
        it->second.row.last_run = row.last_run;
        Reschedule(it->second);
      }
      continue;
    }
    auto e = Make(std::move(row));
    if (!e) continue;
    auto zone = co_await ZoneFor(e->spec.timezone);  // suspends
    if (!zone) continue;
    e->zone = *zone;
    std::string name = e->row.name;
    if (it != entries_.end()) {
      e->row.cursor_ms = std::max(e->row.cursor_ms, it->second.row.cursor_ms);
      e->held = it->second.held;
      if (it->second.wake_ms != kNever) wake_.erase({it->second.wake_ms, name});
    }
    Entry& in = entries_[name] = std::move(*e);
    in.wake_ms = kNever;
    Reschedule(in);
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.wake_ms != kNever) wake_.erase({it->second.wake_ms, it->first});
    it = entries_.erase(it);
  }
  UpdateGauges();
}

void Scheduler::UpdateGauges() {
  int64_t paused = 0;
  for (const auto& [name, e] : entries_) paused += e.row.paused ? 1 : 0;
  stats_->paused.Set(paused);
  stats_->active.Set(static_cast<int64_t>(entries_.size()) - paused);
}

}  // namespace rf::schedule

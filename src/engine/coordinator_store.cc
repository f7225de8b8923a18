// Durable state: replay at start, recovery of unfinished runs, snapshots that
// let the journal drop old segments, and retention of terminal runs.

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/hash_ring.h"
#include "engine/coordinator.h"
#include "obs/log.h"
#include "store/run_log.h"

namespace rf::engine {

// A snapshot: the magic, then one run log per live run (store/run_log.h framing).
constexpr std::string_view kSnapshotMagic = "RFS1";

// The journal after the last snapshot is mostly runs that finished and moved
// to history since: their records are only sorted by run here (no decoding),
// and a run's "moved" mark drops them. What is left is decoded and applied in
// Finish, so a restart costs time for live runs, not for finished ones.
class Coordinator::ReplayInto : public store::RecordSink {
 public:
  explicit ReplayInto(Coordinator& c) : c_(c) {}
  Status OnSnapshot(std::string_view bytes) override { return c_.LoadSnapshot(bytes); }
  Status OnTimer(const RunId& run, uint32_t step, int64_t due_ms) override {
    c_.loaded_timers_.push_back({run, step, due_ms});
    return {};
  }
  Status OnRecord(std::string_view payload) override {
    c_.journal_bytes_since_snapshot_ += payload.size() + c_.store_->record_overhead();
    auto id = PeekRunId(payload);
    if (!id) return c_.ReplayRecord(payload);  // names no run: replay counts and skips it
    store::AppendToLog(tail_[*id], payload);
    return {};
  }
  Status OnMoved(std::string_view ids) override {
    if (ids.size() % 16 != 0) return Error{Errc::kCorrupt, "journal: a moved mark of odd size"};
    for (size_t i = 0; i < ids.size(); i += 16) {
      RunId id;
      std::memcpy(id.bytes.data(), ids.data() + i, 16);
      tail_.erase(id);
      c_.ForgetMoved(id);
    }
    return {};
  }
  // Applies the records of the runs still here, each run's in order.
  Status Finish() {
    for (auto& [id, log] : tail_) {
      Status st =
          store::ForEachLogRecord(log, [&](std::string_view payload) { return c_.ReplayRecord(payload); });
      if (!st) return st;
      replayed_.push_back(id);
    }
    tail_.clear();
    return {};
  }
  // The runs Finish applied records of.
  const std::vector<RunId>& replayed() const { return replayed_; }

 private:
  Coordinator& c_;
  std::map<RunId, std::string> tail_;  // run -> its records after the snapshot, framed
  std::vector<RunId> replayed_;
};

void Coordinator::ForgetMoved(const RunId& id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  Entry& e = *it->second;
  if (!e.run.idempotency_key.empty()) {
    auto k = idempotency_.find(std::string(e.run.def->name) + '\n' + e.run.idempotency_key);
    if (k != idempotency_.end() && k->second == &e) idempotency_.erase(k);
  }
  Unlist(e);
  runs_.erase(it);
}

// No poison records: whatever the store holds, the daemon starts. A record that cannot be
// applied fails its run (in memory only: the bytes stay in the run's log, so every later start,
// and every snapshot, comes to the same verdict); damage to the store's own framing (a CRC
// mismatch inside the journal) is another matter, reported by the store.
Status Coordinator::ReplayRecord(std::string_view payload) {
  auto r = DecodeRecord(payload);
  std::optional<RunId> id = r ? std::optional<RunId>(r->run) : PeekRunId(payload);
  if (!id) {
    stats_->records_unreadable.Add();
    RF_LOG(kError, "replay: skipped a record that cannot be decoded and names no readable run",
           {"error", r.error().ToString()}, {"bytes", payload.size()});
    return {};
  }
  Entry* e = Find(*id);
  if (e && e->quarantined_at) {
    store::AppendToLog(e->log, payload);
    ++e->records;
    stats_->records_ignored.Add();
    return {};
  }
  const std::string n = std::to_string((e ? e->records : 0) + 1);
  if (!r) {
    Quarantine(*id, e, payload, "record " + n + " cannot be decoded: " + r.error().ToString());
    return {};
  }
  if (r->type == RecordType::kRunCreated) {
    // A retry of a run history held writes its whole log again (Restore): the
    // copy replaces what an older part of the journal had of the finished run.
    if (e && !IsTerminal(e->run.status)) {
      Quarantine(*id, e, payload, "record " + n + " creates the run a second time");
      return {};
    }
    const auto* def = registry_->Find(r->workflow, r->version);
    if (!def) {
      Quarantine(*id, nullptr, payload,
                 "workflow '" + r->workflow + "' version " + std::to_string(r->version) +
                     " is not in the definitions log",
                 r->workflow, r->version);
      return {};
    }
    if (e) ForgetMoved(*id);
    e = runs_.emplace(r->run, std::make_unique<Entry>()).first->second.get();
    listed_.insert(r->run);
    e->run.def = *def;
    if (!r->text.empty()) idempotency_[r->workflow + '\n' + r->text] = e;
  } else if (!e) {
    Quarantine(*id, nullptr, payload, "record " + n + " comes before the run's creation");
    return {};
  }
  Apply(e->run, *r, nullptr);
  WatchFailed(*e);
  store::AppendToLog(e->log, payload);
  ++e->records;
  return {};
}

void Coordinator::Quarantine(const RunId& id, Entry* e, std::string_view payload,
                             std::string reason, std::string_view workflow, int64_t version) {
  if (!e) {
    // Nothing of the run could be applied: a stand-in definition without steps gives it a name.
    auto def = std::make_shared<Definition>();
    def->name = workflow.empty() ? "(unknown)" : std::string(workflow);
    def->version = version;
    e = runs_.emplace(id, std::make_unique<Entry>()).first->second.get();
    listed_.insert(id);
    e->run.def = std::move(def);
    e->run.id = id;
    e->run.id_text = id.ToString();
    e->run.created_ms = id.unix_ms();
  }
  store::AppendToLog(e->log, payload);
  e->quarantined_at = ++e->records;
  e->run.error = "quarantined: " + reason;
  Apply(e->run, QuarantineRecord(*e), nullptr);
  WatchFailed(*e);
  stats_->runs_quarantined.Add();
  RF_LOG(kError, "run quarantined: it reads as failed and is listed in /v1/dead-letter",
         {"run", e->run.id_text}, {"workflow", e->run.def->name}, {"error", e->run.error});
}

Record Coordinator::QuarantineRecord(const Entry& e) {
  Record r;
  r.type = RecordType::kRunFinished;
  r.run = e.run.id;
  // The last time something happened to the run: the same at every start.
  r.at_ms = e.run.updated_ms ? e.run.updated_ms : e.run.created_ms;
  r.status = RunStatus::kFailed;
  r.text = e.run.error;
  return r;
}

Status Coordinator::LoadSnapshot(std::string_view bytes) {
  if (!bytes.starts_with(kSnapshotMagic))
    return Error{Errc::kCorrupt, "snapshot: unknown format"};
  bytes.remove_prefix(kSnapshotMagic.size());
  last_snapshot_bytes_ = bytes.size();
  return store::ForEachLogRecord(bytes, [&](std::string_view log) {
    return store::ForEachLogRecord(
        log, [&](std::string_view payload) { return ReplayRecord(payload); });
  });
}

reactor::Task<Status> Coordinator::Open(std::shared_ptr<const Registry> registry) {
  Status replayed = co_await Replay(std::move(registry));  // suspends
  if (!replayed) co_return replayed;
  Recover();
  co_return Status{};
}

reactor::Task<Status> Coordinator::Replay(std::shared_ptr<const Registry> registry) {
  SetLocal(this);
  registry_ = std::move(registry);
  StartPermitShare();  // before recovery: resumed attempts may ask for permits
  ReplayInto sink(*this);
  Status opened = co_await store_->Open(sink);  // suspends
  if (!opened) co_return opened;
  co_return sink.Finish();
}

void Coordinator::Recover() {
  SetHeld(store_->held());
  size_t recovered = 0;
  for (auto& [id, e] : runs_) ResumeLoaded(*e, recovered);
  SettleFlow();
  ArmLoadedTimers();
  RF_LOG(kInfo, "runs recovered", {"runs", runs_.size()}, {"resumed", recovered});
  // Removal by retention writes nothing, so a replay brings expired runs back
  // until the next snapshot: drop them again before serving.
  RemoveExpired();
  MaybeExpireHistory();
  retention_node_.fire = &Coordinator::OnRetention;
  retention_node_.self = this;
  reactor::Shard::Current().Arm(&retention_node_, MonoNow() + RetentionPeriod());
  if (history_retention_ && history_->refreshes_bytes()) {
    bytes_node_.fire = &Coordinator::OnBytesTimer;
    bytes_node_.self = this;
    if (usage_->history_bytes_wanted()) MaybeRefreshBytes();
    reactor::Shard::Current().Arm(&bytes_node_, MonoNow() + kBytesRefresh);
  }
  opened_ = true;
}

void Coordinator::ResumeLoaded(Entry& e, size_t& resumed) {
  stats_->Workflow(e.run.def->name);
  stats_->runs_retained.Add(1);
  if (IsTerminal(e.run.status)) {
    e.terminal_durable = true;
    Compact(e);  // skips a quarantined run: its log cannot rebuild it
    // It may be in history already (finished after the last snapshot): writing
    // it again is harmless. A quarantined run stays here: its log cannot be read back.
    if (!e.quarantined_at) QueueMove(e);
    return;
  }
  CountLive(e.run, 1);
  ++resumed;
  LoadFlow(e);  // before CancelOrphan: the orphan's end gives its slot back
  if (CancelOrphan(e)) return;
  // Timers come from the records, or from the store when it keeps them apart.
  Mutate(e, [this](Machine& m) {
    m.Recover(!store_->loads_timers());
    return 0;
  });
}

void Coordinator::ArmLoadedTimers() {
  for (const LoadedTimer& t : loaded_timers_) {
    Entry* e = Find(t.run);
    if (!e || IsTerminal(e->run.status)) continue;
    // The records hold the exact due time; a timer armed earlier than that would
    // be taken for an early one and dropped.
    int64_t due = t.due_ms;
    if (t.step < e->run.steps.size()) due = std::max(due, e->run.steps[t.step].due_ms);
    else if (t.step == kNoStep) due = std::max(due, e->run.deadline_ms);
    AddTimer(*e, Timer{t.step, due});
  }
  if (!loaded_timers_.empty())
    RF_LOG(kInfo, "durable timers loaded", {"timers", loaded_timers_.size()});
  loaded_timers_ = {};
}

reactor::Task<void> Coordinator::Close() {
  closing_ = true;
  reactor::Shard::Current().Disarm(&timer_node_);
  reactor::Shard::Current().Disarm(&retention_node_);
  if (bytes_node_.fire) reactor::Shard::Current().Disarm(&bytes_node_);
  reactor::Shard::Current().Disarm(&park_node_);
  reactor::Shard::Current().Disarm(&item_retry_node_);
  if (permit_top_due_) reactor::Shard::Current().Disarm(&permit_node_);
  permit_top_due_ = true;  // no more publishing
  ClosePermitShare();
  for (auto& [id, e] : runs_)
    for (Entry::InFlight& f : e->in_flight) f.cancel->Fire();
  co_await tasks_.Wait();  // suspends
  if (share_ != nullptr) co_await share_->Close();  // suspends
  Status st = co_await store_->Close();  // suspends
  if (!st) RF_LOG(kError, "store close failed", {"error", st.error().ToString()});
}

void Coordinator::MaybeSnapshot() {
  // A snapshot rewrites every retained run, so take one only once the journal
  // has grown by at least as much as the last snapshot: rewriting costs at most
  // as much again as logging, and disk use stays within a few times the live data.
  if (!store_->takes_snapshots() || snapshot_busy_ || closing_ ||
      journal_bytes_since_snapshot_ < std::max<uint64_t>(options_.snapshot_bytes, last_snapshot_bytes_))
    return;
  snapshot_busy_ = true;
  reactor::Spawn(WriteSnapshot(this), &tasks_);
}

reactor::Task<void> Coordinator::WriteSnapshot(Coordinator* self) {
  // The snapshot covers every record up to `upto`. Logs only grow, so the
  // prefix of each log that existed at this point is exactly its records up to
  // `upto`; copying those prefixes in slices, yielding between slices, keeps a
  // large snapshot from stalling the shard. Retention waits while we copy, so
  // no entry goes away under us.
  const uint64_t upto = self->store_->last_ticket();
  std::vector<std::pair<const Entry*, size_t>> parts;
  parts.reserve(self->runs_.size());
  size_t total = kSnapshotMagic.size();
  for (auto& [id, e] : self->runs_) {
    if (e->moved) continue;  // history has it durably
    parts.emplace_back(e.get(), e->log.size());
    total += 4 + e->log.size();
  }
  std::string bytes(kSnapshotMagic);
  bytes.reserve(total);
  size_t slice = 0;
  for (auto& [e, len] : parts) {
    store::AppendToLog(bytes, std::string_view(e->log).substr(0, len));
    slice += len;
    if (slice >= (1 << 20)) {
      slice = 0;
      co_await reactor::Yield{};  // suspends
    }
  }
  self->journal_bytes_since_snapshot_ = 0;
  self->last_snapshot_bytes_ = bytes.size();
  const size_t size = bytes.size();
  Nanos t0 = MonoNow();
  Status st = co_await self->store_->WriteSnapshot(upto, std::move(bytes));  // suspends
  if (st) {
    RF_LOG(kInfo, "snapshot written", {"lsn", upto}, {"bytes", size}, {"runs", self->runs_.size()},
           {"ms", (MonoNow() - t0) / kMillis});
  } else {
    RF_LOG(kWarn, "snapshot failed; the journal keeps its segments", {"error", st.error().ToString()});
  }
  self->snapshot_busy_ = false;
}

Nanos Coordinator::RetentionPeriod() const {
  return std::clamp<Nanos>(options_.retention / 4, 100 * kMillis, 60 * kSeconds);
}

void Coordinator::OnRetention(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  if (self->closing_) return;
  // The snapshot holds pointers to entries: try again after it.
  if (!self->snapshot_busy_) self->RemoveExpired();
  self->MaybeExpireHistory();
  reactor::Shard::Current().Arm(&self->retention_node_, MonoNow() + self->RetentionPeriod());
}

void Coordinator::MaybeExpireHistory() {
  if (!history_ || !history_retention_ || expiring_ || closing_) return;
  const std::string_view job = store::kJobHistoryRetention;
  if (leader_ && !leader_->Leads(job)) return;  // another daemon of the cluster runs it
  expiring_ = true;
  reactor::Spawn(ExpireHistory(this, leader_ ? leader_->Term(job) : 0), &tasks_);
}

void Coordinator::RemoveExpired() {
  const int64_t cutoff = NowMs() - options_.retention / kMillis;
  size_t removed = 0;
  for (auto it = runs_.begin(); it != runs_.end();) {
    Entry& e = *it->second;
    // Ids are time-ordered: runs created after the cutoff cannot have finished before it.
    if (it->first.unix_ms() > cutoff) break;
    // Expired before its move into history (or replayed after its removal):
    // it need not go there at all. History's own retention removes the rest.
    const bool removable = e.terminal_durable && e.run.finished_ms < cutoff && e.pending == 0 &&
                           e.pins == 0 && !e.waiters && e.in_flight.empty();
    if (!removable) {
      ++it;
      continue;
    }
    // With a history store its retention removes the stored copy (PostgreSQL
    // drops whole days); without one the store forgets it here.
    if (!history_) store_->Forget(it->first);
    it = Drop(it);
    ++removed;
  }
  std::erase_if(workflow_subs_, [](const auto& p) { return p.second.to->closed(); });
  // Streams of other instances' runs whose client left and whose run sends nothing more.
  for (auto it = remote_subs_.begin(); it != remote_subs_.end();) {
    std::erase_if(it->second, [](const Entry::Sub& s) { return s.ready && s.to->closed(); });
    it = it->second.empty() ? remote_subs_.erase(it) : std::next(it);
  }
  if (removed) {
    stats_->runs_removed.Add(removed);
    RF_LOG(kDebug, "retention removed runs", {"runs", removed});
  }
}

// The store takes the leases it can of `wanted` that this shard does not hold
// (free ones, or ones whose holder died and whose lease expired) and replays
// their live runs here; they resume as after a restart.
reactor::Task<void> Coordinator::TakeOver(std::vector<uint32_t> wanted) {
  ReplayInto sink(*this);
  auto taken = co_await store_->TakeOver(std::move(wanted), sink);  // suspends
  if (!taken) {
    RF_LOG(kWarn, "partition takeover failed; trying again", {"error", taken.error().ToString()});
  } else if (!taken->empty()) {
    if (Status st = sink.Finish(); !st)
      RF_LOG(kError, "partition takeover: runs not replayed", {"error", st.error().ToString()});
    size_t resumed = 0;
    SetHeld(store_->held());  // before resuming: the orphan check asks what is held
    for (const RunId& id : sink.replayed())
      if (Entry* e = Find(id)) ResumeLoaded(*e, resumed);
    SettleFlow();
    ArmLoadedTimers();
    if (!remote_orphan_checks_.empty()) reactor::Spawn(CheckRemoteOrphans(), &tasks_);
    stats_->partitions_taken.Add(taken->size());
    RF_LOG(kInfo, "partitions taken over", {"partitions", taken->size()}, {"runs", sink.replayed().size()},
           {"resumed", resumed}, {"held", held_list_.size()});
  }
}

}  // namespace rf::engine

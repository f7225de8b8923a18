// Partitions: a shard serves the runs of the partitions its store holds. With a
// store whose partitions move between instances (PostgreSQL), the engine tells
// each shard every second which of its partitions this instance should hold
// (engine/membership.h): the shard takes over what it can of those and hands
// the others over at run time.
//
// A hand-over stops the partition's work and waits until nothing of its runs is
// in flight: commands answer kNotHeld from the first moment (the API forwards
// them, or answers 503 while the partition is between holders), queued steps
// are dropped (their starts are durable: the next holder retries them as
// interrupted, as after a crash), timers stay with the store, and http attempts
// under way get a grace period to finish and be recorded before they are
// cancelled. Then the runs leave memory and the store ends the leases.

#include <algorithm>

#include "base/hash_ring.h"
#include "engine/coordinator.h"
#include "obs/log.h"

namespace rf::engine {
namespace {

// Attempts under way at a hand-over may finish and be recorded for this long;
// later ones are cancelled (the next holder makes a new attempt).
constexpr Nanos kReleaseGrace = 2 * kSeconds;
constexpr Nanos kReleasePoll = 5 * kMillis;

}  // namespace

void Coordinator::SetHeld(const std::vector<uint32_t>& partitions) {
  if (held_bits_)
    for (uint32_t p : held_list_) held_bits_[p / 64].fetch_and(~(uint64_t{1} << (p % 64)), std::memory_order_relaxed);
  held_.assign(kPartitions, false);
  held_list_.clear();
  // A partition being handed over is still the store's until its lease ends, not ours.
  for (uint32_t p : partitions) {
    if (releasing_[p]) continue;
    held_[p] = true;
    held_list_.push_back(p);
    if (held_bits_) held_bits_[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
  }
  stats_->partitions_held.Set(static_cast<int64_t>(held_list_.size()));
}

Status Coordinator::CheckHeld(uint32_t partition) const {
  if (partition < held_.size() && held_[partition]) return {};
  return Error{Errc::kNotHeld, "partition " + std::to_string(partition) +
                                       " is held by another instance or is moving; retry"};
}

std::optional<uint32_t> Coordinator::PickPartition() {
  if (held_list_.empty()) return std::nullopt;
  return held_list_[++pick_ % held_list_.size()];
}

bool Coordinator::Releasing(const Entry& e) const { return releasing_[e.run.id.partition()]; }

reactor::Task<Result<std::vector<store::Member>>> Coordinator::Members() {
  return store_->Members();
}

reactor::Task<void> Coordinator::Rebalance(std::vector<uint32_t> wanted) {
  if (closing_ || failed_ || !store_->moves_partitions()) co_return;
  std::vector<uint32_t> release;
  for (uint32_t p : held_list_)
    if (std::find(wanted.begin(), wanted.end(), p) == wanted.end()) release.push_back(p);
  if (!release.empty()) reactor::Spawn(Release(this, std::move(release)), &tasks_);
  // One still being handed over is taken back once its lease ended.
  std::erase_if(wanted, [this](uint32_t p) { return releasing_[p]; });
  co_await TakeOver(std::move(wanted));  // suspends
}

void Coordinator::DropQueuedOfReleasing() {
  DropParkedOfReleasing();
  DropPermitWaitsOfReleasing();
  for (size_t p = 0; p < 3; ++p) {
    for (auto& q : queues_[p]) {
      std::erase_if(q, [&](const WorkItem& w) {
        if (!Releasing(*w.entry)) return false;
        ReleasePermit(w.permit);
        --w.entry->pending;
        stats_->queue_depth[p].Add(-1);
        return true;
      });
    }
  }
}

reactor::Task<void> Coordinator::Release(Coordinator* self, std::vector<uint32_t> parts) {
  for (uint32_t p : parts) self->releasing_[p] = true;
  self->SetHeld(self->store_->held());
  RF_LOG(kInfo, "handing partitions over", {"shard", self->shard_}, {"partitions", parts.size()});
  // ?wait callers answer with the run as it is now; a caller may wait again elsewhere.
  for (auto& [id, e] : self->runs_)
    if (self->Releasing(*e))
      while (Waiter* w = e->waiters) self->WakeWaiter(*e, w);
  const Nanos cancel_at = MonoNow() + kReleaseGrace;
  bool cancelled = false;
  while (!self->closing_) {
    self->DropQueuedOfReleasing();
    bool busy = false;
    for (auto& [id, e] : self->runs_) {
      if (!self->Releasing(*e)) continue;
      if (e->pending || e->pins || !e->in_flight.empty()) busy = true;
      if (!cancelled && MonoNow() >= cancel_at)
        for (Entry::InFlight& f : e->in_flight) f.cancel->Fire();
    }
    if (!busy) break;
    cancelled = cancelled || MonoNow() >= cancel_at;
    co_await reactor::Sleep(kReleasePoll);  // suspends
  }
  if (self->closing_) co_return;  // Close hands everything over
  size_t dropped = 0;
  for (auto it = self->runs_.begin(); it != self->runs_.end();) {
    if (!self->Releasing(*it->second)) {
      ++it;
      continue;
    }
    if (!IsTerminal(it->second->run.status)) self->CountLive(it->second->run, -1);
    it = self->Drop(it);
    ++dropped;
  }
  std::erase_if(self->timers_, [self](const auto& t) { return self->releasing_[t.second.run.partition()]; });
  self->RearmTimer();
  Status st = co_await self->store_->Release(parts);  // suspends
  if (!st) RF_LOG(kWarn, "partition leases not ended; they expire", {"error", st.error().ToString()});
  for (uint32_t p : parts) self->releasing_[p] = false;
  self->stats_->partitions_released.Add(parts.size());
  RF_LOG(kInfo, "partitions handed over", {"shard", self->shard_}, {"partitions", parts.size()},
         {"runs", dropped}, {"attempts_cancelled", cancelled});
}

}  // namespace rf::engine

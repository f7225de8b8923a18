// Step-level concurrency limits: an http step's "concurrency" {key, limit, scope?} lets at most
// `limit` attempts per (scope, rendered key) call at once across every shard of the instance.
//
// The permits of one (scope, key) live on its home shard (PermitHome: a hash over the shards),
// in that shard's PermitTable, so the count is exact and no lock is shared: an attempt on any
// shard asks the home by message (Shard::Post, the mailboxes SubmitTo uses; inline when the home
// is its own shard), waits in the home's FIFO of the key, and is queued again once granted. Five
// messages: acquire / release / cancel (to the home), granted / refused (back to the asker).
// Exactly one release follows each grant: a grant that finds its asker no longer waiting (the
// run ended while the grant was on its way) is released at once; a cancel that finds the waiter
// granted already does nothing, since that grant will be released by its asker.
//
// Nothing is durable: a restart replays the attempts under way as interrupted and their retries
// ask again; nothing is held for a dead process.

#include <memory>

#include "engine/coordinator.h"
#include "obs/log.h"

namespace rf::engine {
namespace {

constexpr Nanos kPermitTopEvery = 1 * kSeconds;  // /metrics' busiest ids are at most this old
constexpr size_t kMaxPermitKeyBytes = kMaxFlowKeyBytes;

std::string ClipPermitKey(std::string key) {
  if (key.size() <= kMaxPermitKeyBytes) return key;
  size_t n = kMaxPermitKeyBytes;
  while (n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
  key.resize(n);
  return key;
}

}  // namespace

struct Coordinator::PermitMsg {
  Coordinator* to;
  PermitOp op;
  std::string id;
  int64_t limit;
  PermitWaiter who;
};

void Coordinator::SendPermit(unsigned to, PermitOp op, const std::string& id, int64_t limit,
                             PermitWaiter who) {
  Coordinator* target = to < peers_.size() ? peers_[to] : this;
  if (target == this) {
    HandlePermit(op, id, limit, who);
    return;
  }
  auto* m = new PermitMsg{target, op, id, limit, who};
  reactor::Shard::Current().Post(to, reactor::Message{&Coordinator::OnPermitMsg, m});
}

void Coordinator::OnPermitMsg(void* p) {
  std::unique_ptr<PermitMsg> m(static_cast<PermitMsg*>(p));
  m->to->HandlePermit(m->op, m->id, m->limit, m->who);
}

void Coordinator::HandlePermit(PermitOp op, const std::string& id, int64_t limit,
                               PermitWaiter who) {
  switch (op) {
    case PermitOp::kAcquire:
      switch (permits_.Acquire(id, limit, who)) {
        case PermitTable::Outcome::kGranted:
          stats_->permits.granted.Add();
          SendPermit(who.shard, PermitOp::kGranted, id, 0, who);
          break;
        case PermitTable::Outcome::kQueued:
          if (share_ != nullptr) AskShare(id, false);
          break;
        case PermitTable::Outcome::kFull:
          stats_->permits.refused.Add();
          SendPermit(who.shard, PermitOp::kRefused, id, 0, who);
          break;
      }
      PermitsChanged();
      return;
    case PermitOp::kRelease: {
      std::vector<PermitWaiter> granted = std::move(granted_scratch_);
      granted.clear();
      permits_.Release(id, granted);
      if (share_ != nullptr) PermitReleasedShared(id);
      stats_->permits.granted.Add(granted.size());
      for (const PermitWaiter& g : granted) SendPermit(g.shard, PermitOp::kGranted, id, 0, g);
      granted_scratch_ = std::move(granted);
      PermitsChanged();
      return;
    }
    case PermitOp::kCancel:
      if (permits_.Cancel(id, who)) stats_->permits.cancelled.Add();
      if (share_ != nullptr) AskShare(id, false);
      PermitsChanged();
      return;
    case PermitOp::kGranted:
      PermitGranted(id, who);
      return;
    case PermitOp::kRefused:
      PermitRefused(who);
      return;
  }
}

void Coordinator::AskPermit(const WorkItem& w, const Step& s) {
  Entry& e = *w.entry;
  RunStepResults results(e.run);
  json::Context ctx{&e.run.input, &results, e.run.id_text, e.run.def->name};
  std::string key = ClipPermitKey(s.permits->key.EvaluateString(ctx));
  std::string id = PermitId(PermitScope(e.run.def->name, s.id, s.permits->scope), key);
  const unsigned home = PermitHome(id, peers_.empty() ? 1 : peers_.size());
  const uint64_t ticket = ++next_ticket_;
  ++e.pending;  // as while queued: the entry stays in memory
  ++e.permit_waits;
  e.run.steps[w.step].permit_key = std::move(key);
  auto [it, inserted] = permit_waits_.emplace(ticket, PermitWait{w, std::move(id), home});
  RF_CHECK(inserted);
  stats_->permits.asking.Add(1);
  // May grant inline (home here, a permit free): the wait must be filed first.
  SendPermit(home, PermitOp::kAcquire, it->second.id, s.permits->limit,
             PermitWaiter{shard_, ticket});
}

void Coordinator::PermitGranted(const std::string& id, PermitWaiter who) {
  auto it = permit_waits_.find(who.ticket);
  if (it == permit_waits_.end()) {  // its run ended (or moved, or we close) meanwhile
    SendPermit(PermitHome(id, peers_.empty() ? 1 : peers_.size()), PermitOp::kRelease, id, 0, who);
    return;
  }
  WorkItem w = it->second.w;
  permits_held_.emplace(who.ticket, HeldPermit{std::move(it->second.id), it->second.home});
  permit_waits_.erase(it);
  stats_->permits.asking.Add(-1);
  Entry& e = *w.entry;
  --e.permit_waits;
  e.run.steps[w.step].permit_key.clear();
  // Back into the http queue, still counted in the entry's `pending`; Execute checks again
  // whether the attempt is wanted and releases the permit if not.
  w.permit = who.ticket;
  w.ready_at = MonoNow();
  const auto p = static_cast<size_t>(e.run.priority);
  queues_[p][1].push_back(w);
  stats_->queue_depth[p].Add(1);
  SchedulePump();
}

void Coordinator::PermitRefused(PermitWaiter who) {
  auto it = permit_waits_.find(who.ticket);
  if (it == permit_waits_.end()) return;
  const WorkItem w = it->second.w;
  permit_waits_.erase(it);
  stats_->permits.asking.Add(-1);
  Entry& e = *w.entry;
  --e.pending;
  --e.permit_waits;
  StepState& st = e.run.steps[w.step];
  st.permit_key.clear();
  if (IsTerminal(e.run.status) || st.status != StepStatus::kRunning ||
      st.attempts.size() != w.attempt)
    return;
  FailHttp(e, w.step, w.attempt,
           "concurrency_queue_full: " + std::to_string(options_.max_permit_waiters) +
               " attempts already wait for step concurrency permits on their home shard",
           true);
}

void Coordinator::ReleasePermit(uint64_t ticket) {
  if (ticket == 0) return;
  auto it = permits_held_.find(ticket);
  if (it == permits_held_.end()) return;
  HeldPermit h = std::move(it->second);
  permits_held_.erase(it);
  SendPermit(h.home, PermitOp::kRelease, h.id, 0, PermitWaiter{shard_, ticket});
}

void Coordinator::CancelPermitWaits(Entry& e) {
  if (e.permit_waits == 0) return;
  for (auto it = permit_waits_.begin(); it != permit_waits_.end() && e.permit_waits > 0;) {
    if (it->second.w.entry != &e) {
      ++it;
      continue;
    }
    const PermitWaiter who{shard_, it->first};
    const std::string id = std::move(it->second.id);
    const unsigned home = it->second.home;
    e.run.steps[it->second.w.step].permit_key.clear();
    it = permit_waits_.erase(it);
    --e.pending;
    --e.permit_waits;
    stats_->permits.asking.Add(-1);
    SendPermit(home, PermitOp::kCancel, id, 0, who);
  }
}

void Coordinator::DropPermitWaitsOfReleasing() {
  std::vector<Entry*> leaving;
  for (const auto& [ticket, wait] : permit_waits_)
    if (Releasing(*wait.w.entry)) leaving.push_back(wait.w.entry);
  for (Entry* e : leaving) CancelPermitWaits(*e);
}

void Coordinator::PermitsChanged() {
  PermitStats& st = stats_->permits;
  st.waiting.Set(static_cast<int64_t>(permits_.waiting()));
  st.in_use.Set(permits_.in_use());
  st.ids.Set(static_cast<int64_t>(permits_.ids()));
  if (permit_top_due_ || closing_) return;
  permit_top_due_ = true;
  reactor::Shard::Current().Arm(&permit_node_, MonoNow() + kPermitTopEvery);
}

void Coordinator::OnPermitTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  self->permit_top_due_ = false;
  self->stats_->permits.top.Publish(self->permits_.Views({}, PermitTop::kSlots, self->shard_));
}

}  // namespace rf::engine

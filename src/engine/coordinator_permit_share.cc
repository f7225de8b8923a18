// Step-level concurrency limits over a cluster (--redis-url): a home shard's permits of an id
// are leases of the cluster's (store/permit_share.h), so `limit` holds for every daemon together.
//
// The home shard's PermitTable is gated: it grants only within the leases it holds. When an id
// has a waiter and no spare lease (PermitTable::Wants), the home asks for one (one ask in flight
// per id); a lease granted lets the oldest waiter through. A release gives the lease back, and
// when this home still has waiters, asks for the next in the same step (Acquire's give_back):
// the cluster's line decides who is next, so daemons take turns. Told to wait, the home asks
// again every kPoll (its place in the line is kept; less often with over 200 ids waiting) until
// served or it has no waiter left (then it leaves the line). Leases are renewed every lease_ttl / 4; a daemon that dies holds its
// leases lease_ttl at most.
//
// Redis away (an ask fails): the home grants up to its split of the limit, limit / live members
// (at least 1), as quotas do, and asks again every kRetryAway. Those permits are "loose": named
// like leases but not in Redis. Once Redis answers again they are registered (Renew adds them)
// before this home asks for more, and by the next renewal otherwise, so the cluster counts them;
// until every daemon has registered its loose permits a limit may be exceeded by those.

#include <algorithm>

#include "engine/coordinator.h"
#include "obs/log.h"

namespace rf::engine {
namespace {

constexpr Nanos kPoll = 20 * kMillis;
constexpr Nanos kRetryAway = 250 * kMillis;

}  // namespace

void Coordinator::SetPermitShare(store::PermitShare* share, const obs::Gauge* members) {
  share_ = share;
  members_ = members;
  permits_.SetGated(share != nullptr);
  share_poll_node_.fire = &Coordinator::OnSharePollTimer;
  share_poll_node_.self = this;
  share_renew_node_.fire = &Coordinator::OnShareRenewTimer;
  share_renew_node_.self = this;
}

void Coordinator::StartPermitShare() {
  if (share_ == nullptr) return;
  share_->Start();
  share_renew_armed_ = true;
  reactor::Shard::Current().Arm(&share_renew_node_, MonoNow() + share_->lease_ttl() / 4);
}

void Coordinator::AskShare(const std::string& id, bool from_poll) {
  if (share_ == nullptr || closing_) return;
  auto it = shared_.find(id);
  if (it == shared_.end()) {
    if (!permits_.Wants(id)) return;
    it = shared_.emplace(id, SharedId{}).first;
  }
  SharedId& s = it->second;
  if (s.asking) return;
  if (!permits_.Wants(id)) {
    if (s.in_line) {  // nobody here waits any more: let the next holder of the line go
      s.in_line = false;
      reactor::Spawn(GiveBack(this, id, std::string(), true), &tasks_);
    }
    MaybeForget(it);
    return;
  }
  if (s.retry_at != 0 && !from_poll) return;  // the poll asks
  s.retry_at = 0;
  s.asking = true;
  reactor::Spawn(AskLease(this, id, std::string()), &tasks_);
}

reactor::Task<void> Coordinator::AskLease(Coordinator* self, std::string id, std::string give_back) {
  const std::string lease = std::to_string(++self->next_lease_);
  const int64_t limit = self->permits_.Limit(id);
  Result<bool> r = false;
  if (!self->shared_.at(id).loose.empty()) {  // counted by the cluster before it grants more
    auto reg = RegisterLoose(self, id);
    Status st = co_await reg;  // suspends
    if (!st) r = st.error();
  }
  if (r) {
    self->stats_->permits.lease_asks.Add();
    auto ask = self->share_->Acquire(id, limit, lease, std::move(give_back));
    r = co_await ask;  // suspends
  }
  auto it = self->shared_.find(id);
  RF_CHECK(it != self->shared_.end());  // kept while asking
  SharedId& s = it->second;
  s.asking = false;
  if (self->closing_) {  // ClosePermitShare gave the rest back; this ask's lease and place too
    if (r) {
      auto back = self->share_->Release(id, *r ? lease : std::string(), true);
      Status st = co_await back;  // suspends
      if (!st) self->stats_->permits.lease_errors.Add();
    }
    co_return;
  }
  std::vector<PermitWaiter> granted = std::move(self->granted_scratch_);
  granted.clear();
  Nanos retry = 0;
  if (r && *r) {
    s.in_line = false;
    if (self->permits_.Allow(id, granted)) {
      s.leases.push_back(lease);
      self->stats_->permits.leases.Add(1);
    } else {  // its waiter left meanwhile
      reactor::Spawn(GiveBack(self, id, lease, false), &self->tasks_);
    }
  } else if (r) {
    s.in_line = true;
    self->stats_->permits.lease_waits.Add();
    // Many ids waiting at once are polled less often: at most about 10,000 asks a second a shard.
    retry = std::max<Nanos>(kPoll, static_cast<Nanos>(self->share_polls_.size()) * kMillis / 10);
  } else {
    self->stats_->permits.lease_errors.Add();
    if (!self->share_down_) {
      self->share_down_ = true;
      RF_LOG(kWarn, "step concurrency permits are not shared while Redis is away: each daemon grants its split",
             {"shard", self->shard_}, {"error", r.error().ToString()});
    }
    const int64_t members = self->members_ != nullptr ? self->members_->Get() : 1;
    const int64_t split = std::max<int64_t>(1, limit / std::max<int64_t>(members, 1));
    while (self->permits_.Wants(id) && self->permits_.InUse(id) < split &&
           self->permits_.Allow(id, granted)) {
      s.loose.push_back(std::to_string(++self->next_lease_));
      self->stats_->permits.fallback.Add();
    }
    retry = kRetryAway;
  }
  if (r && self->share_down_) {
    self->share_down_ = false;
    RF_LOG(kInfo, "step concurrency permits are shared through Redis again", {"shard", self->shard_});
  }
  self->stats_->permits.granted.Add(granted.size());
  for (const PermitWaiter& g : granted) self->SendPermit(g.shard, PermitOp::kGranted, id, 0, g);
  self->granted_scratch_ = std::move(granted);
  self->PermitsChanged();
  if (retry != 0 && self->permits_.Wants(id)) {
    s.retry_at = MonoNow() + retry;
    self->share_polls_.emplace(s.retry_at, id);
    self->ArmSharePoll();
    co_return;
  }
  self->AskShare(id, true);  // another waiter (asks at once), or none (leaves the line)
}

reactor::Task<Status> Coordinator::RegisterLoose(Coordinator* self, std::string id) {
  std::vector<std::string> names = self->shared_.at(id).loose;
  auto renew = self->share_->Renew(id, names);
  Status st = co_await renew;  // suspends
  if (st) self->Registered(id, names);
  co_return st;
}

void Coordinator::Registered(const std::string& id, const std::vector<std::string>& names) {
  auto it = shared_.find(id);
  if (it == shared_.end()) return;
  SharedId& s = it->second;
  for (const std::string& n : names) {
    auto pos = std::find(s.loose.begin(), s.loose.end(), n);
    if (pos == s.loose.end()) continue;  // ended meanwhile (and given back: PermitReleasedShared)
    s.leases.push_back(std::move(*pos));
    s.loose.erase(pos);
    stats_->permits.leases.Add(1);
  }
}

reactor::Task<void> Coordinator::GiveBack(Coordinator* self, std::string id, std::string lease,
                                         bool leave_line) {
  auto back = self->share_->Release(std::move(id), std::move(lease), leave_line);
  Status st = co_await back;  // suspends
  // Not given back: the lease ends by itself after lease_ttl.
  if (!st) self->stats_->permits.lease_errors.Add();
}

void Coordinator::PermitReleasedShared(const std::string& id) {
  auto it = shared_.find(id);
  if (it == shared_.end()) return;
  SharedId& s = it->second;
  if (!s.loose.empty()) {  // a permit granted while Redis was away ends first
    std::string name = std::move(s.loose.back());
    s.loose.pop_back();
    // A renewal in flight may register it: take it out again (harmless if it is not there).
    if (!share_down_) reactor::Spawn(GiveBack(this, id, std::move(name), false), &tasks_);
    AskShare(id, false);
    return;
  }
  if (s.leases.empty()) {  // none to give back (Close gave them all back already)
    MaybeForget(it);
    return;
  }
  std::string lease = std::move(s.leases.back());
  s.leases.pop_back();
  stats_->permits.leases.Add(-1);
  if (!closing_ && !s.asking && permits_.Wants(id)) {
    // Hand over in one step: give this lease back and ask for the next in the cluster's order.
    s.asking = true;
    s.retry_at = 0;
    reactor::Spawn(AskLease(this, id, std::move(lease)), &tasks_);
    return;
  }
  reactor::Spawn(GiveBack(this, id, std::move(lease), false), &tasks_);
  AskShare(id, false);
}

void Coordinator::MaybeForget(std::unordered_map<std::string, SharedId>::iterator it) {
  const SharedId& s = it->second;
  if (s.asking || s.in_line || s.retry_at != 0 || !s.leases.empty() || !s.loose.empty()) return;
  shared_.erase(it);
}

void Coordinator::ArmSharePoll() {
  if (share_polls_.empty() || closing_) return;
  const Nanos at = share_polls_.begin()->first;
  if (share_poll_armed_ && share_poll_at_ <= at) return;
  if (share_poll_armed_) reactor::Shard::Current().Disarm(&share_poll_node_);
  share_poll_armed_ = true;
  share_poll_at_ = at;
  reactor::Shard::Current().Arm(&share_poll_node_, at);
}

void Coordinator::OnSharePollTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  self->share_poll_armed_ = false;
  const Nanos now = MonoNow();
  std::vector<std::string> due;
  while (!self->share_polls_.empty() && self->share_polls_.begin()->first <= now) {
    due.push_back(std::move(self->share_polls_.begin()->second));
    self->share_polls_.erase(self->share_polls_.begin());
  }
  for (const std::string& id : due) {
    auto it = self->shared_.find(id);
    if (it == self->shared_.end()) continue;
    it->second.retry_at = 0;
    self->AskShare(id, true);
  }
  self->ArmSharePoll();
}

void Coordinator::OnShareRenewTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  self->share_renew_armed_ = false;
  if (self->closing_) return;
  for (const auto& [id, s] : self->shared_) {
    if (s.leases.empty() && s.loose.empty()) continue;
    std::vector<std::string> leases = s.leases;
    leases.insert(leases.end(), s.loose.begin(), s.loose.end());
    reactor::Spawn(RenewLeases(self, id, std::move(leases), !s.loose.empty()), &self->tasks_);
  }
  self->share_renew_armed_ = true;
  reactor::Shard::Current().Arm(&self->share_renew_node_, MonoNow() + self->share_->lease_ttl() / 4);
}

reactor::Task<void> Coordinator::RenewLeases(Coordinator* self, std::string id,
                                            std::vector<std::string> leases, bool loose) {
  auto renew = self->share_->Renew(id, leases);
  Status st = co_await renew;  // suspends
  if (!st) {
    self->stats_->permits.lease_errors.Add();
  } else if (loose && !self->closing_) {
    self->Registered(id, leases);
  }
}

void Coordinator::ClosePermitShare() {
  if (share_ == nullptr) return;
  if (share_poll_armed_) reactor::Shard::Current().Disarm(&share_poll_node_);
  if (share_renew_armed_) reactor::Shard::Current().Disarm(&share_renew_node_);
  share_poll_armed_ = share_renew_armed_ = false;
  share_polls_.clear();
  // Leave every line and give every lease back, so the other daemons need not wait lease_ttl.
  for (auto& [id, s] : shared_) {
    for (std::string& l : s.leases) reactor::Spawn(GiveBack(this, id, std::move(l), false), &tasks_);
    if (s.in_line) reactor::Spawn(GiveBack(this, id, std::string(), true), &tasks_);
    s.leases.clear();
    s.loose.clear();
    s.in_line = false;
  }
  stats_->permits.leases.Set(0);
}

}  // namespace rf::engine

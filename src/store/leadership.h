#pragma once
// Leadership: which singleton jobs (store/leader_election.h) this daemon leads now, and the
// elections that decide it. One per process; its loop runs on shard 0, its answers (Leads,
// Term) are atomics any shard may read.
//
// Two elections may take part: the authority (PostgreSQL), whose lease row every singleton
// write checks, and an optional arbiter (Redis) that contenders meet at first. Each round (every
// `renew`), for each job:
//   - leading: the authority's lease is renewed (and the arbiter's, when it gave the term). A
//     renewal refused means another daemon leads: stop at once. A renewal that cannot be made
//     (the database away) keeps the job only until ttl - renew has passed since the last one,
//     i.e. before the database could give the lease to another daemon.
//   - not leading: with an arbiter, SET NX there first; its winner takes the authority's lease
//     with the arbiter's term (refused when the authority's lease is still live, or the term is
//     not above the authority's: the arbiter lost its data; then the arbiter lease is released
//     and the next attempt asks for a term above the authority's). The losers stop there, so
//     only one daemon at a time contends in the database. With no arbiter, or when it cannot be
//     reached, every contender asks the authority directly: leadership goes on without Redis.
// Without an authority (the embedded store: one daemon) every job is always led, at term 0,
// and nothing is fenced.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/task.h"
#include "store/leader_election.h"

namespace rf::store {

struct LeadershipOptions {
  std::string holder;          // this daemon's id (--instance-id)
  Nanos ttl = 5 * kSeconds;    // --leader-ttl: a dead leader's jobs move within this
  Nanos renew = 1 * kSeconds;  // --leader-renew: rounds; at most ttl / 2
};

class Leadership {
 public:
  // `authority`, `arbiter`: may be null (see above); must outlive Close.
  Leadership(LeadershipOptions options, LeaderElection* authority, LeaderElection* arbiter);
  ~Leadership();

  // Shard 0, once the authority's connections can be made (the stores are open).
  void Start();
  // Shard 0: stops the rounds and releases the leases held, so a standby takes the jobs over at
  // its next round instead of after the TTL. Suspends. Idempotent.
  reactor::Task<void> Close();

  // Any thread. Whether this daemon runs `job` now, and the term its writes carry (0: none).
  bool Leads(std::string_view job) const;
  int64_t Term(std::string_view job) const;
  // A singleton job finished one pass (rf_singleton_runs_total).
  void CountRun(std::string_view job);
  // With an arbiter: whether its last call succeeded (false: leadership is on the authority).
  bool arbiter_configured() const { return arbiter_ != nullptr; }
  bool arbiter_up() const { return arbiter_up_.load(std::memory_order_relaxed); }
  // rf_leader, rf_leader_term, rf_leader_changes_total, rf_singleton_runs_total,
  // rf_leader_arbiter_up. Any thread.
  void RenderMetrics(std::string& out) const;

 private:
  struct Job {
    std::string_view name;
    std::atomic<int64_t> term{0};  // > 0 while leading
    bool via_arbiter = false;
    Nanos renewed = 0;  // the last successful renewal (monotonic)
    int64_t known = 0;  // the highest term seen: arbiter terms must exceed it
    std::atomic<uint64_t> changes{0}, runs{0};
  };
  static reactor::Task<void> Loop(Leadership* self);
  reactor::Task<void> Tend(Job& job);
  reactor::Task<void> Contend(Job& job);
  void Lead(Job& job, int64_t term, bool via_arbiter);
  void StepDown(Job& job, std::string_view why);
  void NoteArbiter(const Status& outcome, const Job& job);
  const Job* Find(std::string_view name) const;

  LeadershipOptions options_;
  LeaderElection* authority_;
  LeaderElection* arbiter_;
  std::array<Job, 2> jobs_;
  std::atomic<bool> arbiter_up_{true};
  bool started_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  reactor::TaskGroup loop_;
};

}  // namespace rf::store

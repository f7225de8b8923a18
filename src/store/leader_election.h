#pragma once
// Leader election for the cluster's singleton jobs: the periodic work that must run on one
// daemon of a cluster at a time (history retention, audit retention). A job's leader holds a
// lease with a TTL and a term: a fencing token that grows with every new leadership, so a
// write made for a singleton job carries the term and the store refuses it (in the write's own
// transaction) once the term is not the current one or its lease expired. Adapters:
// store/postgres (pg_leader.h: the lease row every write checks, migration 0011) and
// store/redis (redis_leader.h: SET NX PX lease, INCR term). store/leadership.h drives them.
//
// An election is used on one shard's thread (shard 0's); every call suspends and is bounded by
// a deadline of the adapter's.

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/task.h"

namespace rf::store {

// The singleton jobs, by the name their leases, metrics and logs use.
inline constexpr std::string_view kJobHistoryRetention = "history-retention";
inline constexpr std::string_view kJobAuditRetention = "audit-retention";

// The outcome of an attempt to lead: won, with the new term; or refused (another holder's lease
// is live), with the current term when the backend knows it (else 0).
struct LeaderClaim {
  bool won = false;
  int64_t term = 0;
};

class LeaderElection {
 public:
  virtual ~LeaderElection() = default;
  // "postgres" or "redis", for logs.
  virtual std::string_view backend() const = 0;
  // On the shard that uses it, before the first call (connections it keeps). Default: none.
  virtual void Start() {}
  // Tries to lead `job` for `ttl`. `term`: 0 asks for the next term; > 0 is a lower bound the
  // new term must exceed (Redis) or the exact term to take (PostgreSQL: one Redis gave; refused
  // unless it exceeds the current term). Errors: the backend cannot be reached.
  virtual reactor::Task<Result<LeaderClaim>> Acquire(std::string job, int64_t term, Nanos ttl) = 0;
  // Extends the lease held at `term`. false: it is not ours any more (expired, taken over).
  virtual reactor::Task<Result<bool>> Renew(std::string job, int64_t term, Nanos ttl) = 0;
  // Ends the lease held at `term` at once (a clean stop), so a standby need not wait the TTL.
  virtual reactor::Task<Status> Release(std::string job, int64_t term) = 0;
  virtual reactor::Task<void> Close() { co_return; }
};

}  // namespace rf::store

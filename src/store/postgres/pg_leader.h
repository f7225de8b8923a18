#pragma once
// PgLeaderElection: the lease rows of migration 0011 (leader_leases), one per singleton job:
// holder, fencing term, expiry judged by the database's clock (rf_leader_acquire, _renew,
// _release). It is the authority of store/leadership.h: every singleton write checks its row
// in the write's own transaction (rf_leader_fence), whoever elected the leader.
//
// Shard-local: Start, the calls and Close on one shard's thread (shard 0). It keeps one
// connection of its own, so a renewal never queues behind the shard's group commits. Every call
// suspends, bounded by `timeout`; errors are the pool's (kUnavailable while the database is
// away, kTimeout).

#include <memory>
#include <string>

#include "store/leader_election.h"
#include "store/postgres/pg_pool.h"
#include "store/postgres/pg_store.h"

namespace rf::store::pg {

class PgLeaderElection final : public LeaderElection {
 public:
  // options.instance is the holder; `timeout` bounds each call (--leader-renew).
  PgLeaderElection(PgOptions options, Nanos timeout);
  ~PgLeaderElection() override;

  std::string_view backend() const override { return "postgres"; }
  void Start() override;
  reactor::Task<Result<LeaderClaim>> Acquire(std::string job, int64_t term, Nanos ttl) override;
  reactor::Task<Result<bool>> Renew(std::string job, int64_t term, Nanos ttl) override;
  reactor::Task<Status> Release(std::string job, int64_t term) override;
  reactor::Task<void> Close() override;

 private:
  reactor::Task<Result<std::vector<PgResult>>> Exchange(std::string_view sql,
                                                        std::vector<std::string> params);
  PgOptions options_;
  Nanos timeout_;
  std::unique_ptr<PgPool> pool_;
};

}  // namespace rf::store::pg

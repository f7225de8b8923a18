#pragma once
// RedisLeaderElection: the arbiter of store/leadership.h. A job's lease is the key
// `ringflow:leader:<job>` (value `<holder>#<term>`, a TTL in milliseconds), taken with
// SET NX PX; the term comes from INCR of `ringflow:leader:<job>:term` (raised above the floor
// the caller passes when Redis's counter fell behind: a Redis that lost its data). Acquire,
// Renew and Release are Lua scripts (EVAL), so "take and number", "extend only if mine" and
// "delete only if mine" are each atomic in Redis. Renew sets the key again if it is gone (a
// Redis restarted without it): the leader keeps its lease, which the database also holds.
//
// Shard-local: Start, the calls and Close on one shard's thread (shard 0), with a connection
// of its own (RedisClient). Every call is bounded by `timeout`; errors are the client's
// (kUnavailable at once while Redis is away, kTimeout).

#include <atomic>
#include <memory>
#include <string>

#include "store/leader_election.h"
#include "store/redis/redis_client.h"

namespace rf::store::redis {

class RedisLeaderElection final : public LeaderElection {
 public:
  RedisLeaderElection(RedisUrl url, std::string holder, Nanos timeout,
                      RedisConn::Options conn = {});
  ~RedisLeaderElection() override;

  std::string_view backend() const override { return "redis"; }
  void Start() override;
  reactor::Task<Result<LeaderClaim>> Acquire(std::string job, int64_t term, Nanos ttl) override;
  reactor::Task<Result<bool>> Renew(std::string job, int64_t term, Nanos ttl) override;
  reactor::Task<Status> Release(std::string job, int64_t term) override;
  reactor::Task<void> Close() override;

  // The connection's counters (rf_redis_*). Any thread.
  const RedisStats* stats() const { return stats_.load(std::memory_order_acquire); }

  static std::string LeaseKey(std::string_view job) {
    return "ringflow:leader:" + std::string(job);
  }

 private:
  RedisUrl url_;
  std::string holder_;
  Nanos timeout_;
  RedisConn::Options conn_;
  std::unique_ptr<RedisClient> client_;  // made by Start, kept until destruction (stats)
  std::atomic<const RedisStats*> stats_{nullptr};
};

}  // namespace rf::store::redis

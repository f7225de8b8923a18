#pragma once
// RedisPermitShare: store/permit_share.h on Redis, one per shard with a connection of its own.
// Per id three keys, each a ZSET and each a Lua script's to change (atomic, one clock: the
// server's TIME, never an instance's):
//   ringflow:permit:<id>:held   leases "<holder>#<lease>", scored by when they end (ms);
//   ringflow:permit:<id>:line   holders waiting for one, scored by their turn (:seq, a counter);
//   ringflow:permit:<id>:seen   the same holders, scored by when they last asked (ms).
// Acquire drops ended leases and holders silent for a lease's lifetime, then grants when the
// free leases outnumber the holders ahead of the caller in the line. The keys expire two lease
// lifetimes after their last change, so ids nobody uses leave nothing behind.
// Standalone Redis (as the rest of store/redis).

#include <memory>
#include <string>
#include <vector>

#include "store/permit_share.h"
#include "store/redis/redis_client.h"
#include "store/redis/redis_script.h"

namespace rf::store::redis {

// The reply of the acquire script (0 or 1) as a grant; kInternal otherwise.
Result<bool> ParseAcquireReply(const RedisReply& reply);

class RedisPermitShare final : public PermitShare {
 public:
  RedisPermitShare(RedisUrl url, std::string instance, unsigned shard, Nanos timeout,
                   RedisConn::Options conn = {}, Nanos lease_ttl = kLeaseTtl);
  ~RedisPermitShare() override;

  void Start() override;
  Nanos lease_ttl() const override { return lease_ttl_; }
  reactor::Task<Result<bool>> Acquire(std::string id, int64_t limit, std::string lease,
                                      std::string give_back) override;
  reactor::Task<Status> Release(std::string id, std::string lease, bool leave_line) override;
  reactor::Task<Status> Renew(std::string id, std::vector<std::string> leases) override;
  reactor::Task<void> Close() override;

 private:
  std::string Lease(const std::string& lease) const { return holder_ + "#" + lease; }

  RedisUrl url_;
  std::string holder_;
  Nanos timeout_;
  Nanos lease_ttl_;
  RedisConn::Options conn_;
  std::unique_ptr<RedisClient> client_;
  RedisScript acquire_, release_, renew_;
};

}  // namespace rf::store::redis

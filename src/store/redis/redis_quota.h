#pragma once
// RedisQuotaShare: store/quota_share.h on Redis, one per shard with a connection of its own.
//   - A rate is a HASH `ringflow:quota:rate:<kind>:<ns>` {t: tokens, ts: µs} that a Lua script
//     refills from the server's TIME (never an instance's clock: instances disagree) and takes
//     a batch from, atomically; the key expires once it would be full again.
//   - Live runs: each instance keeps a HASH `ringflow:quota:live:<instance>` (namespace ->
//     count, PX kLiveTtl) and its name in the ZSET `ringflow:quota:live` scored by the server
//     time of its last publication; one script replaces this instance's counts, drops members
//     silent for kLiveTtl and sums the others'. An instance that died stops counting within
//     kLiveTtl.
// Scripts are loaded once a connection (SCRIPT LOAD) and run with EVALSHA; a server that lost
// them (restart: NOSCRIPT) gets them again. Standalone Redis (the scripts touch keys they do
// not declare: no Redis Cluster, as the rest of store/redis).

#include <memory>
#include <string>
#include <vector>

#include "store/quota_share.h"
#include "store/redis/redis_client.h"
#include "store/redis/redis_script.h"

namespace rf::store::redis {

// The reply of the rate script ({granted, wait in µs}) as a batch; kInternal otherwise.
Result<QuotaShare::Batch> ParseBatchReply(const RedisReply& reply);
// The reply of the live script (a flat array: namespace, count, ...); kInternal otherwise.
Result<QuotaShare::Counts> ParseLiveReply(const RedisReply& reply);

class RedisQuotaShare final : public QuotaShare {
 public:
  static constexpr Nanos kLiveTtl = 3 * kSeconds;

  RedisQuotaShare(RedisUrl url, std::string instance, Nanos timeout, RedisConn::Options conn = {});
  ~RedisQuotaShare() override;

  void Start() override;
  reactor::Task<Result<Batch>> TakeBatch(std::string key, double rate, double capacity,
                                         int64_t want) override;
  reactor::Task<Result<Counts>> ExchangeLive(Counts mine) override;
  reactor::Task<void> Close() override;

 private:
  RedisUrl url_;
  std::string instance_;
  Nanos timeout_;
  RedisConn::Options conn_;
  std::unique_ptr<RedisClient> client_;
  RedisScript rate_, live_;
};

}  // namespace rf::store::redis

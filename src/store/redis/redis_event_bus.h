#pragma once
// RedisEventBus: the cluster's EventBus on a Redis Stream (`ringflow:events`).
//
// Why a stream and not pub/sub: a reader that lost its connection (Redis restarted, a
// network blip) resumes after the last entry id it read instead of missing whatever was
// published meanwhile, XREAD is an ordinary command (no connection in subscribe mode), and
// MAXLEN bounds the stream, so Redis memory stays flat however long nobody reads.
//
// Each entry is one batch of a relay: `from` (the publishing instance, so it skips its own)
// and `rows`, one line per outbox row: run id, first and last event number, workflow,
// events JSON, tab-separated (none of them holds a tab or a newline: ids and numbers by
// construction, workflow names by validation, JSON because our writer escapes controls).
//
// Shard 0: a publishing client (XADD, up to kMaxInFlight batches in flight, more are
// dropped and counted) and a reading client (XREAD BLOCK, one at a time, from the id read
// last; "$" resolved to a concrete id at Open).

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "reactor/task.h"
#include "store/redis/redis_client.h"
#include "store/store.h"

namespace rf::store::redis {

// One batch as the `rows` field carries it, and back (false: a line that does not parse).
std::string EncodeEventRows(const std::vector<OutboxRow>& rows);
bool DecodeEventRows(std::string_view text, std::vector<OutboxRow>& out);

class RedisEventBus final : public EventBus {
 public:
  // `conn`: the options of its connections (with rediss://, the TLS context; see redis_conn.h).
  RedisEventBus(RedisUrl url, std::string instance, RedisConn::Options conn = {});
  ~RedisEventBus() override;

  reactor::Task<Status> Open(EventRelay::Deliver deliver) override;
  void Publish(const std::vector<OutboxRow>& rows) override;
  reactor::Task<void> Close() override;
  void RenderMetrics(std::string& out) const override;
  bool up() const override { return up_.load(std::memory_order_relaxed); }

  static constexpr std::string_view kStream = "ringflow:events";
  static constexpr size_t kMaxLen = 100'000;  // entries kept (approximately: MAXLEN ~)
  static constexpr size_t kMaxInFlight = 256;

 private:
  static reactor::Task<void> Send(RedisEventBus* self, std::string rows);
  static reactor::Task<void> Read(RedisEventBus* self);

  RedisUrl url_;
  std::string instance_;
  RedisConn::Options conn_;
  std::unique_ptr<RedisClient> pub_;
  std::unique_ptr<RedisClient> sub_;
  EventRelay::Deliver deliver_;
  std::string last_id_;  // the last entry read
  bool closing_ = false;
  size_t in_flight_ = 0;
  reactor::TaskGroup tasks_;
  std::atomic<uint64_t> published_{0}, dropped_{0}, received_{0}, read_errors_{0};
  std::atomic<bool> up_{false};
};

}  // namespace rf::store::redis

#pragma once
// RedisStats: one shard's Redis client metrics. Single writer (the client's shard), read by
// /metrics on any shard with relaxed loads; RenderRedisMetrics sums the shards' instances into
// the rf_redis_* families.

#include <string>
#include <vector>

#include "obs/metrics.h"

namespace rf::store::redis {

struct RedisStats {
  obs::Counter commands;          // commands sent
  obs::Histogram latency;         // queued -> reply read, for commands that got a reply
  obs::Counter error_replies;     // answered with a RESP error
  obs::Counter timeouts;          // deadline passed before the reply
  obs::Counter unavailable;       // failed without an answer: no connection, or it dropped
  obs::Counter rejected;          // refused: too many commands in flight on the connection
  obs::Counter connects;          // connections made (the first one and every reconnect)
  obs::Counter reconnects;        // ... of which after a lost connection or a failed attempt
  obs::Counter connect_failures;  // connection attempts that failed
  obs::Counter disconnects;       // connections lost (server gone, stalled, protocol error)
  obs::Gauge connected;           // 1 while the connection is up
  obs::Gauge in_flight;           // commands sent and not yet answered (abandoned ones too)
};

// Appends rf_redis_commands_total, rf_redis_command_duration_seconds (histogram),
// rf_redis_errors_total{kind="reply|timeout|unavailable|rejected"}, rf_redis_connects_total,
// rf_redis_reconnects_total, rf_redis_connect_failures_total, rf_redis_disconnects_total,
// rf_redis_connected and rf_redis_in_flight, each summed over `shards`.
void RenderRedisMetrics(const std::vector<const RedisStats*>& shards, std::string& out);

}  // namespace rf::store::redis

#include "store/redis/redis_stats.h"

namespace rf::store::redis {

void RenderRedisMetrics(const std::vector<const RedisStats*>& shards, std::string& out) {
  obs::TextExposition x(out);
  auto sum = [&](const obs::Counter RedisStats::*field) {
    uint64_t total = 0;
    for (const RedisStats* s : shards) total += (s->*field).Get();
    return total;
  };
  auto counter = [&](const char* name, const char* help, const obs::Counter RedisStats::*field) {
    x.Family(name, "counter", help);
    x.SampleU(name, "", sum(field));
  };
  auto gauge = [&](const char* name, const char* help, const obs::Gauge RedisStats::*field) {
    int64_t total = 0;
    for (const RedisStats* s : shards) total += (s->*field).Get();
    x.Family(name, "gauge", help);
    x.Sample(name, "", static_cast<double>(total));
  };

  counter("rf_redis_commands_total", "Redis commands sent.", &RedisStats::commands);
  std::vector<const obs::Histogram*> latency;
  for (const RedisStats* s : shards) latency.push_back(&s->latency);
  x.Family("rf_redis_command_duration_seconds", "histogram",
           "Time from queueing a Redis command to reading its reply.");
  x.HistogramSum("rf_redis_command_duration_seconds", "", latency);

  x.Family("rf_redis_errors_total", "counter",
           "Redis commands that failed: reply (a RESP error), timeout (deadline), unavailable "
           "(no connection, or it dropped), rejected (too many in flight).");
  x.SampleU("rf_redis_errors_total", "kind=\"reply\"", sum(&RedisStats::error_replies));
  x.SampleU("rf_redis_errors_total", "kind=\"timeout\"", sum(&RedisStats::timeouts));
  x.SampleU("rf_redis_errors_total", "kind=\"unavailable\"", sum(&RedisStats::unavailable));
  x.SampleU("rf_redis_errors_total", "kind=\"rejected\"", sum(&RedisStats::rejected));

  counter("rf_redis_connects_total", "Redis connections made.", &RedisStats::connects);
  counter("rf_redis_reconnects_total",
          "Redis connections made again after a lost connection or a failed attempt.",
          &RedisStats::reconnects);
  counter("rf_redis_connect_failures_total", "Redis connection attempts that failed.",
          &RedisStats::connect_failures);
  counter("rf_redis_disconnects_total", "Redis connections lost.", &RedisStats::disconnects);
  gauge("rf_redis_connected", "Redis connections up (one per shard when healthy).",
        &RedisStats::connected);
  gauge("rf_redis_in_flight", "Redis commands sent and not yet answered.", &RedisStats::in_flight);
}

}  // namespace rf::store::redis

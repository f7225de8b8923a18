#pragma once
// RedisClient: a shard's connection to Redis, kept up in the background. Start() connects; a
// lost connection (its in-flight commands fail with kUnavailable) is made again at once, then,
// while attempts fail, after 100 ms, 200 ms, ... up to 5 s between attempts (+-20% jitter, so
// shards do not retry in lockstep), until one succeeds or the client closes.
//
// Shard-local: created, started, used, closed and destroyed on one shard's thread (RF_CHECKed).
// One per shard: every command of the shard is pipelined on its one connection.
//
//   RedisClient redis({.url = *ParseRedisUrl("redis://:secret@127.0.0.1:6379/2")});
//   redis.Start();
//   Result<RedisReply> r = co_await redis.Command(Deadline::After(kSeconds), "INCR", key);
//   co_await redis.Close();
//
// Command errors are RedisConn's (redis_conn.h), plus: while no connection is up, a command
// waits for the attempt in progress (bounded by its deadline; at most max_waiters commands
// wait), and fails at once with kUnavailable ("redis unavailable: <why the last attempt
// failed>") while the client is backing off between failed attempts, or once it is closed.

#include <array>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "reactor/nap.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "reactor/wait_list.h"
#include "store/redis/redis_conn.h"
#include "store/redis/redis_reply.h"
#include "store/redis/redis_stats.h"
#include "store/redis/redis_url.h"

namespace rf::store::redis {

class RedisClient {
 public:
  struct Options {
    RedisUrl url;
    Nanos connect_timeout = 5 * kSeconds;  // one attempt: lookup, TCP, AUTH/SELECT
    Nanos backoff_min = 100 * kMillis;
    Nanos backoff_max = 5 * kSeconds;
    size_t max_waiters = 4096;  // commands waiting for a connection attempt
    RedisConn::Options conn = {};
  };

  explicit RedisClient(Options options);
  // RF_CHECKs that nothing still runs for the client: Close() first if it was started.
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Starts connecting (in the background, on this shard). Once.
  void Start();

  // argv-style and binary-safe; the arguments are encoded before this returns. suspends.
  reactor::Task<Result<RedisReply>> Command(std::span<const std::string_view> argv,
                                            Deadline deadline);
  // The same with the arguments listed: Command(deadline, "SET", key, value). Each argument
  // converts to std::string_view. (No std::initializer_list overload: GCC 12 rejects a braced
  // list inside a co_await expression of a coroutine, "array used as initializer".)
  template <class... Args>
  reactor::Task<Result<RedisReply>> Command(Deadline deadline, const Args&... args) {
    const std::array<std::string_view, sizeof...(Args)> argv = {std::string_view(args)...};
    return Command(std::span<const std::string_view>(argv), deadline);
  }

  // Stops: a connection attempt or backoff in progress ends, waiting commands and those in
  // flight fail with kUnavailable, the connection closes. suspends. Idempotent.
  reactor::Task<void> Close();

  bool healthy() const { return conn_ != nullptr && !conn_->broken(); }
  size_t in_flight() const { return conn_ != nullptr ? conn_->in_flight() : 0; }
  // Why the last attempt failed or the last connection was lost ("" if none did).
  const std::string& last_error() const { return last_error_; }
  RedisStats& stats() { return stats_; }
  const RedisStats& stats() const { return stats_; }

 private:
  static reactor::Task<void> Maintain(RedisClient* client);
  static reactor::Task<Result<RedisReply>> Run(RedisClient* client, std::string frame,
                                               std::string name, Deadline deadline);
  void AssertShard() const;

  Options options_;
  reactor::Shard* shard_ = nullptr;
  std::unique_ptr<RedisConn> conn_;  // up, or broken and about to be replaced
  bool started_ = false;
  bool closing_ = false;
  bool connecting_ = false;
  bool reported_down_ = false;  // "unavailable" logged; "restored" is logged once it is back
  std::string last_error_;
  uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  reactor::WaitList<Status> waiters_;  // commands waiting for the attempt in progress
  reactor::Nap* nap_ = nullptr;           // set while backing off: Close cuts it short
  reactor::TaskGroup group_;     // Maintain
  reactor::CancelToken cancel_;  // fired by Close: an attempt in flight ends
  RedisStats stats_;
};

}  // namespace rf::store::redis

#include "store/redis/redis_client.h"

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "obs/log.h"

namespace rf::store::redis {

using reactor::Shard;
using reactor::Task;

RedisClient::RedisClient(Options options) : options_(std::move(options)) {
  RF_CHECK(options_.backoff_min > 0 && options_.backoff_min <= options_.backoff_max);
}

RedisClient::~RedisClient() {
  // Something would still point at the client: Close() must have finished.
  RF_CHECK(group_.active() == 0 && waiters_.empty() && conn_ == nullptr);
}

void RedisClient::AssertShard() const { RF_CHECK(shard_ == &Shard::Current()); }

void RedisClient::Start() {
  RF_CHECK(!started_);
  started_ = true;
  shard_ = &Shard::Current();
  connecting_ = true;  // commands sent before the first attempt ends wait for it
  reactor::Spawn(Maintain(this), &group_);
}

Task<void> RedisClient::Maintain(RedisClient* client) {
  const Options& opt = client->options_;
  Nanos backoff = opt.backoff_min;
  bool first = true;
  while (!client->closing_) {
    client->connecting_ = true;
    Result<std::unique_ptr<RedisConn>> conn = co_await RedisConn::Connect(
        opt.url, opt.conn, &client->stats_, Deadline::After(opt.connect_timeout),
        &client->cancel_);  // suspends
    client->connecting_ = false;
    if (client->closing_) {
      if (conn) co_await (*conn)->Close();  // suspends
      break;
    }
    if (conn) {
      client->stats_.connects.Add();
      if (!first) client->stats_.reconnects.Add();
      first = false;
      client->stats_.connected.Set(1);
      if (client->reported_down_) {
        client->reported_down_ = false;
        RF_LOG(kInfo, "redis connection restored", {"endpoint", (*conn)->endpoint()});
      }
      backoff = opt.backoff_min;
      client->conn_ = std::move(*conn);
      client->waiters_.WakeAll(Status{});
      co_await client->conn_->WaitBroken();  // suspends while the connection is up
      client->last_error_ = client->conn_->error();
      client->stats_.connected.Set(0);
      if (!client->closing_) {
        client->stats_.disconnects.Add();
        RF_LOG(kWarn, "redis connection lost", {"error", client->last_error_});
        client->reported_down_ = true;
      }
      std::unique_ptr<RedisConn> lost = std::move(client->conn_);
      co_await lost->Close();  // suspends
      continue;                // the first attempt after a loss goes at once
    }

    first = false;
    client->stats_.connect_failures.Add();
    client->last_error_ = conn.error().context;
    RF_LOG(kDebug, "redis connection attempt failed", {"error", client->last_error_});
    if (!client->reported_down_) {
      client->reported_down_ = true;
      RF_LOG(kWarn, "redis unavailable", {"error", client->last_error_});
    }
    client->waiters_.WakeAll(Error{Errc::kUnavailable, "redis unavailable: " + client->last_error_});
    client->rng_ ^= client->rng_ << 13;
    client->rng_ ^= client->rng_ >> 7;
    client->rng_ ^= client->rng_ << 17;
    const Nanos jitter = static_cast<Nanos>(client->rng_ % 401) - 200;  // per mille
    {
      reactor::Nap nap(&client->nap_, backoff + backoff * jitter / 1000);
      co_await nap;  // suspends
    }
    backoff = std::min(backoff * 2, opt.backoff_max);
  }
  client->connecting_ = false;
}

Task<Result<RedisReply>> RedisClient::Command(std::span<const std::string_view> argv,
                                              Deadline deadline) {
  if (Status st = CheckCommand(argv); !st) {
    struct Refuse {
      static Task<Result<RedisReply>> Now(Error e) { co_return e; }
    };
    return Refuse::Now(st.error());
  }
  std::string frame;
  EncodeCommand(argv, frame);
  return Run(this, std::move(frame), CommandName(argv[0]), deadline);
}

Task<Result<RedisReply>> RedisClient::Run(RedisClient* client, std::string frame, std::string name,
                                          Deadline deadline) {
  if (!client->started_ || client->closing_) {
    client->stats_.unavailable.Add();
    co_return Error{Errc::kUnavailable, "redis " + name + ": the client is " +
                                            (client->closing_ ? "closed" : "not started")};
  }
  client->AssertShard();
  if (!client->healthy()) {
    if (!client->connecting_) {
      client->stats_.unavailable.Add();
      co_return Error{Errc::kUnavailable,
                      "redis " + name + ": redis unavailable: " + client->last_error_};
    }
    if (client->waiters_.size() >= client->options_.max_waiters) {
      client->stats_.rejected.Add();
      co_return Error{Errc::kRetryLater,
                      "redis " + name + ": too many commands waiting for a connection"};
    }
    reactor::WaitList<Status>::Waiter wait(client->waiters_, deadline,
                                           Error{Errc::kTimeout, "no connection to redis by the deadline"});
    Status up = co_await wait;  // suspends until the attempt in progress ends
    if (!up) {
      (up.error().code == Errc::kTimeout ? client->stats_.timeouts : client->stats_.unavailable)
          .Add();
      co_return Error{up.error().code, "redis " + name + ": " + up.error().context};
    }
    if (!client->healthy()) {
      client->stats_.unavailable.Add();
      co_return Error{Errc::kUnavailable,
                      "redis " + name + ": redis unavailable: " + client->last_error_};
    }
  }
  Result<RedisReply> r = co_await RedisConn::Send(client->conn_.get(), std::move(frame),
                                                  std::move(name), deadline);  // suspends
  co_return r;
}

Task<void> RedisClient::Close() {
  if (!started_ || closing_) co_return;
  AssertShard();
  closing_ = true;
  cancel_.Fire();  // an attempt in flight ends with kCancelled
  if (nap_ != nullptr) nap_->Wake();
  waiters_.WakeAll(Error{Errc::kUnavailable, "the client is closed"});
  if (conn_ != nullptr) conn_->Fail("client closed");  // Maintain wakes and closes it
  auto done = group_.Wait();
  co_await done;  // suspends until Maintain has ended
}

}  // namespace rf::store::redis

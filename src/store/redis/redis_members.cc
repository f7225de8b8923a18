#include "store/redis/redis_members.h"

#include <algorithm>

#include "obs/log.h"
#include "obs/metrics.h"
#include "reactor/shard.h"

namespace rf::store::redis {
namespace {

// KEYS: entry, index. ARGV: value, ttl ms, id. The ids whose entries are live, by Redis's clock.
// TIME before writes is allowed: scripts replicate their effects (Redis >= 5; the call below
// asks for it on older ones).
constexpr std::string_view kBeat = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
)lua";

// KEYS: entry, index. ARGV: id.
constexpr std::string_view kLeave = R"lua(
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
)lua";

}  // namespace

void MemberView::SetTrusted(bool t) {
  if (t == trusted_) return;
  if (trusted_) ++fallbacks_;
  trusted_ = t;
  ++changes_;
}

void MemberView::Ok(Nanos now, std::vector<std::string> ids) {
  if (ok_since_ < 0) ok_since_ = now;
  last_ok_ = now;
  if (ids != ids_) {
    ids_ = std::move(ids);
    if (trusted_) ++changes_;
  }
  SetTrusted(now - ok_since_ >= ttl_);
}

void MemberView::Failed(Nanos) {
  ok_since_ = -1;
  SetTrusted(false);
}

std::optional<std::vector<std::string>> MemberView::Live(Nanos now) const {
  if (!trusted_ || now - last_ok_ > stale_) return std::nullopt;
  return ids_;
}

std::string RedisMemberDirectory::EntryValue(std::string_view advertise, int64_t started_ms) {
  std::string v = "{\"advertise\":\"";
  for (char c : advertise) {  // host:port; escaped anyway, so the value is always JSON
    if (c == '"' || c == '\\') v += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) v += c;
  }
  v += "\",\"started_ms\":" + std::to_string(started_ms) + "}";
  return v;
}

RedisMemberDirectory::RedisMemberDirectory(RedisMembersOptions options)
    : options_(std::move(options)),
      key_(EntryKey(options_.instance)),
      value_(EntryValue(options_.advertise, WallNow() / kMillis)),
      view_(options_.ttl, options_.stale) {}

RedisMemberDirectory::~RedisMemberDirectory() = default;

void RedisMemberDirectory::Start() {
  if (client_) return;
  RedisClient::Options o{.url = options_.url};
  o.conn = options_.conn;
  // Reconnect quickly: the view is distrusted until a TTL of good beats after a reconnect.
  o.backoff_max = 1 * kSeconds;
  client_ = std::make_unique<RedisClient>(std::move(o));
  client_->Start();
  reactor::Spawn(Beat(this), &tasks_);
}

reactor::Task<void> RedisMemberDirectory::Beat(RedisMemberDirectory* self) {
  const std::string ttl = std::to_string(self->options_.ttl / kMillis);
  Nanos logged = 0;
  std::vector<std::string> ids;
  while (!self->leaving_) {
    const Nanos t0 = MonoNow();
    auto r = co_await self->client_->Command(Deadline::After(self->options_.timeout), "EVAL", kBeat, "2",
                                             self->key_, kIndex, self->value_, ttl,
                                             self->options_.instance);  // suspends
    if (self->leaving_) break;
    const bool was_trusted = self->view_.trusted();
    if (r && r->type == RedisReply::Type::kArray) {
      ids.clear();
      for (const RedisReply& e : r->elements)
        if (e.type == RedisReply::Type::kString) ids.push_back(e.str);
      std::sort(ids.begin(), ids.end());
      self->view_.Ok(MonoNow(), ids);
      self->beats_ok_.fetch_add(1, std::memory_order_relaxed);
      if (!self->up_.exchange(true, std::memory_order_relaxed))
        RF_LOG(kInfo, "redis: membership beats work again", {"redis", self->options_.url.Endpoint()});
    } else {
      self->view_.Failed(MonoNow());
      self->beats_failed_.fetch_add(1, std::memory_order_relaxed);
      self->up_.store(false, std::memory_order_relaxed);
      if (MonoNow() - logged > 10 * kSeconds) {
        logged = MonoNow();
        RF_LOG(kWarn, "redis: membership beat failed; membership from PostgreSQL beats alone",
               {"redis", self->options_.url.Endpoint()},
               {"error", r ? r->Describe() : r.error().ToString()});
      }
    }
    if (was_trusted != self->view_.trusted())
      RF_LOG(kInfo, self->view_.trusted() ? "cluster membership from Redis and PostgreSQL"
                                          : "cluster membership from PostgreSQL beats alone",
             {"redis_members", self->view_.size()});
    self->trusted_.store(self->view_.trusted(), std::memory_order_relaxed);
    self->fallbacks_.store(self->view_.fallbacks(), std::memory_order_relaxed);
    self->members_.store(self->view_.size(), std::memory_order_relaxed);
    const Nanos next = t0 + self->options_.beat;
    if (MonoNow() < next && !self->leaving_) co_await reactor::Sleep(next - MonoNow());  // suspends
  }
}

reactor::Task<void> RedisMemberDirectory::Leave() {
  if (!client_ || left_) co_return;
  left_ = true;
  leaving_ = true;
  co_await tasks_.Wait();  // suspends: at most a beat's sleep or its command's deadline
  auto r = co_await client_->Command(Deadline::After(options_.timeout), "EVAL", kLeave, "2", key_, kIndex,
                                     options_.instance);  // suspends
  if (!r)
    RF_LOG(kWarn, "redis: membership entry not deleted; it expires", {"error", r.error().ToString()},
           {"ttl_ms", options_.ttl / kMillis});
  trusted_.store(false, std::memory_order_relaxed);
  co_await client_->Close();  // suspends
}

void RedisMemberDirectory::RenderMetrics(std::string& out) const {
  obs::TextExposition x(out);
  x.Family("rf_cluster_membership_up", "gauge",
           "1 while the live members are read from Redis heartbeats (and PostgreSQL beats); 0: PostgreSQL "
           "beats alone.");
  x.Sample("rf_cluster_membership_up", "", trusted_.load(std::memory_order_relaxed) ? 1 : 0);
  x.Family("rf_cluster_membership_fallback_total", "counter",
           "Times the Redis view of the members stopped being used (Redis away): membership fell back "
           "to PostgreSQL beats alone.");
  x.SampleU("rf_cluster_membership_fallback_total", "", fallbacks_.load(std::memory_order_relaxed));
  x.Family("rf_cluster_membership_redis_members", "gauge", "Live member entries in Redis at the last beat.");
  x.SampleU("rf_cluster_membership_redis_members", "", members_.load(std::memory_order_relaxed));
  x.Family("rf_cluster_membership_beats_total", "counter", "Membership heartbeats sent to Redis, by outcome.");
  x.SampleU("rf_cluster_membership_beats_total", "outcome=\"ok\"", beats_ok_.load(std::memory_order_relaxed));
  x.SampleU("rf_cluster_membership_beats_total", "outcome=\"failed\"",
            beats_failed_.load(std::memory_order_relaxed));
}

}  // namespace rf::store::redis

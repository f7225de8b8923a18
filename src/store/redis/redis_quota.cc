#include "store/redis/redis_quota.h"

#include <cstdio>

namespace rf::store::redis {
namespace {

// KEYS: the bucket. ARGV: rate a second, capacity, tokens wanted. {granted, µs until a token
// is there when none was granted}. A missing key is a full bucket.
constexpr std::string_view kRate = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = cap
elseif now > ts then
  tokens = tokens + (now - ts) * rate / 1000000
end
if tokens > cap then tokens = cap end
local grant = math.floor(tokens)
if grant > want then grant = want end
if grant < 0 then grant = 0 end
tokens = tokens - grant
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / rate * 1000) + 1000)
local wait = 0
if grant == 0 then wait = math.ceil((1 - tokens) * 1000000 / rate) end
return {grant, wait}
)lua";

// KEYS: the members ZSET, this instance's HASH (the ZSET's name .. ':' .. instance).
// ARGV: instance, ttl ms, then namespace, count pairs. The others' sums, flat.
constexpr std::string_view kLive = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
local sums, names = {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[1] then
    local h = redis.call('HGETALL', KEYS[1] .. ':' .. m)
    for i = 1, #h, 2 do
      if sums[h[i]] == nil then
        names[#names + 1] = h[i]
        sums[h[i]] = 0
      end
      sums[h[i]] = sums[h[i]] + tonumber(h[i + 1])
    end
  end
end
local out = {}
for _, n in ipairs(names) do
  out[#out + 1] = n
  out[#out + 1] = sums[n]
end
return out
)lua";

constexpr std::string_view kLiveKey = "ringflow:quota:live";
constexpr std::string_view kWho = "redis quota";

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

Result<QuotaShare::Batch> ParseBatchReply(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 2 ||
      reply.elements[0].type != RedisReply::Type::kInteger ||
      reply.elements[1].type != RedisReply::Type::kInteger || reply.elements[0].integer < 0 ||
      reply.elements[1].integer < 0)
    return Error{Errc::kInternal, "redis quota: unexpected reply " + reply.Describe()};
  return QuotaShare::Batch{.granted = reply.elements[0].integer,
                           .wait = reply.elements[1].integer * 1000};
}

Result<QuotaShare::Counts> ParseLiveReply(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() % 2 != 0)
    return Error{Errc::kInternal, "redis quota: unexpected reply " + reply.Describe()};
  QuotaShare::Counts out;
  out.reserve(reply.elements.size() / 2);
  for (size_t i = 0; i < reply.elements.size(); i += 2) {
    const RedisReply& ns = reply.elements[i];
    const RedisReply& n = reply.elements[i + 1];
    if (ns.type != RedisReply::Type::kString || n.type != RedisReply::Type::kInteger ||
        n.integer < 0)
      return Error{Errc::kInternal, "redis quota: unexpected reply " + reply.Describe()};
    out.emplace_back(ns.str, n.integer);
  }
  return out;
}

RedisQuotaShare::RedisQuotaShare(RedisUrl url, std::string instance, Nanos timeout,
                                 RedisConn::Options conn)
    : url_(std::move(url)),
      instance_(std::move(instance)),
      timeout_(timeout),
      conn_(conn),
      rate_{kRate, {}},
      live_{kLive, {}} {}

RedisQuotaShare::~RedisQuotaShare() = default;

void RedisQuotaShare::Start() {
  if (client_) return;
  RedisClient::Options o{.url = url_};
  o.conn = conn_;
  // Quotas never wait for Redis: a short backoff cap brings sharing back soon after an outage.
  o.backoff_max = kSeconds;
  o.max_waiters = 256;
  client_ = std::make_unique<RedisClient>(std::move(o));
  client_->Start();
}

reactor::Task<Result<QuotaShare::Batch>> RedisQuotaShare::TakeBatch(std::string key, double rate,
                                                                    double capacity, int64_t want) {
  std::vector<std::string> args{"1", "ringflow:quota:rate:" + key, Number(rate), Number(capacity),
                                std::to_string(want)};
  auto r = co_await EvalScript(client_.get(), &rate_, timeout_, std::move(args), kWho);  // suspends
  if (!r) co_return r.error();
  co_return ParseBatchReply(*r);
}

reactor::Task<Result<QuotaShare::Counts>> RedisQuotaShare::ExchangeLive(Counts mine) {
  std::vector<std::string> args;
  args.reserve(5 + 2 * mine.size());
  args.push_back("2");
  args.emplace_back(kLiveKey);
  args.push_back(std::string(kLiveKey) + ":" + instance_);
  args.push_back(instance_);
  args.push_back(std::to_string(kLiveTtl / kMillis));
  for (auto& [ns, n] : mine) {
    args.push_back(std::move(ns));
    args.push_back(std::to_string(n));
  }
  auto r = co_await EvalScript(client_.get(), &live_, timeout_, std::move(args), kWho);  // suspends
  if (!r) co_return r.error();
  co_return ParseLiveReply(*r);
}

reactor::Task<void> RedisQuotaShare::Close() {
  if (client_) co_await client_->Close();  // suspends
}

}  // namespace rf::store::redis

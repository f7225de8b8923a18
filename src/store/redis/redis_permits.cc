#include "store/redis/redis_permits.h"

namespace rf::store::redis {
namespace {

constexpr std::string_view kWho = "redis permits";

// KEYS: held, line, seen, seq. ARGV: holder, lease, limit, ttl ms, lease given back ("" : none).
// The line is ordered by a counter (seq), not by time: two holders joining in one millisecond
// keep the order they came in.
constexpr std::string_view kAcquire = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
if ARGV[5] ~= '' then redis.call('ZREM', KEYS[1], ARGV[5]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - ttl)) do
  redis.call('ZREM', KEYS[2], h)
  redis.call('ZREM', KEYS[3], h)
end
local free = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
local ahead = rank
if not ahead then ahead = redis.call('ZCARD', KEYS[2]) end
local got = 0
if free > ahead then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
  if rank then
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
  got = 1
else
  if not rank then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1]) end
  redis.call('ZADD', KEYS[3], now, ARGV[1])
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl * 2) end
return got
)lua";

// KEYS: held, line, seen, seq. ARGV: lease ("" : none), "1" to leave the line, holder.
constexpr std::string_view kRelease = R"lua(
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
end
return 1
)lua";

// KEYS: held. ARGV: ttl ms, leases...
constexpr std::string_view kRenew = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return #ARGV - 1
)lua";

std::vector<std::string> Keys(const std::string& id, size_t extra) {
  std::vector<std::string> args;
  args.reserve(5 + extra);
  args.push_back("4");
  const std::string base = "ringflow:permit:" + id;
  args.push_back(base + ":held");
  args.push_back(base + ":line");
  args.push_back(base + ":seen");
  args.push_back(base + ":seq");
  return args;
}

}  // namespace

Result<bool> ParseAcquireReply(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kInteger || reply.integer < 0 || reply.integer > 1)
    return Error{Errc::kInternal, "redis permits: unexpected reply " + reply.Describe()};
  return reply.integer == 1;
}

RedisPermitShare::RedisPermitShare(RedisUrl url, std::string instance, unsigned shard,
                                   Nanos timeout, RedisConn::Options conn, Nanos lease_ttl)
    : url_(std::move(url)),
      holder_(std::move(instance) + "/" + std::to_string(shard)),
      timeout_(timeout),
      lease_ttl_(lease_ttl),
      conn_(conn),
      acquire_{kAcquire, {}},
      release_{kRelease, {}},
      renew_{kRenew, {}} {}

RedisPermitShare::~RedisPermitShare() = default;

void RedisPermitShare::Start() {
  if (client_) return;
  RedisClient::Options o{.url = url_};
  o.conn = conn_;
  o.backoff_max = kSeconds;  // a step waits on it: come back soon after an outage
  o.max_waiters = 1024;
  client_ = std::make_unique<RedisClient>(std::move(o));
  client_->Start();
}

reactor::Task<Result<bool>> RedisPermitShare::Acquire(std::string id, int64_t limit,
                                                      std::string lease, std::string give_back) {
  std::vector<std::string> args = Keys(id, 5);
  args.push_back(holder_);
  args.push_back(Lease(lease));
  args.push_back(std::to_string(limit));
  args.push_back(std::to_string(lease_ttl_ / kMillis));
  args.push_back(give_back.empty() ? std::string() : Lease(give_back));
  auto r = co_await EvalScript(client_.get(), &acquire_, timeout_, std::move(args), kWho);  // suspends
  if (!r) co_return r.error();
  co_return ParseAcquireReply(*r);
}

reactor::Task<Status> RedisPermitShare::Release(std::string id, std::string lease,
                                                bool leave_line) {
  std::vector<std::string> args = Keys(id, 3);
  args.push_back(lease.empty() ? std::string() : Lease(lease));
  args.push_back(leave_line ? "1" : "0");
  args.push_back(holder_);
  auto r = co_await EvalScript(client_.get(), &release_, timeout_, std::move(args), kWho);  // suspends
  if (!r) co_return r.error();
  co_return Status{};
}

reactor::Task<Status> RedisPermitShare::Renew(std::string id, std::vector<std::string> leases) {
  std::vector<std::string> args;
  args.reserve(3 + leases.size());
  args.push_back("1");
  args.push_back("ringflow:permit:" + id + ":held");
  args.push_back(std::to_string(lease_ttl_ / kMillis));
  for (const std::string& l : leases) args.push_back(Lease(l));
  auto r = co_await EvalScript(client_.get(), &renew_, timeout_, std::move(args), kWho);  // suspends
  if (!r) co_return r.error();
  co_return Status{};
}

reactor::Task<void> RedisPermitShare::Close() {
  if (client_) co_await client_->Close();  // suspends
}

}  // namespace rf::store::redis

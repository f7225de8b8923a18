#include "store/redis/redis_leader.h"

namespace rf::store::redis {
namespace {

// KEYS: lease, counter. ARGV: holder, floor, ttl ms. The new term, or 0 when the lease is held.
constexpr std::string_view kAcquire = R"lua(
if not redis.call('SET', KEYS[1], '', 'NX', 'PX', ARGV[3]) then return 0 end
local t = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[2])
if t <= floor then
  t = floor + 1
  redis.call('SET', KEYS[2], t)
end
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. t, 'PX', ARGV[3])
return t
)lua";

// KEYS: lease. ARGV: value, ttl ms. 1 when extended (or set again: the key was gone), 0 when
// another holder has it.
constexpr std::string_view kRenew = R"lua(
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

// KEYS: lease. ARGV: value. 1 when it was ours and is gone.
constexpr std::string_view kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

}  // namespace

RedisLeaderElection::RedisLeaderElection(RedisUrl url, std::string holder, Nanos timeout,
                                         RedisConn::Options conn)
    : url_(std::move(url)), holder_(std::move(holder)), timeout_(timeout), conn_(conn) {}

RedisLeaderElection::~RedisLeaderElection() = default;

void RedisLeaderElection::Start() {
  if (client_) return;
  RedisClient::Options o{.url = url_};
  o.conn = conn_;
  client_ = std::make_unique<RedisClient>(std::move(o));
  client_->Start();
  stats_.store(&client_->stats(), std::memory_order_release);
}

reactor::Task<Result<LeaderClaim>> RedisLeaderElection::Acquire(std::string job, int64_t term,
                                                                Nanos ttl) {
  if (!client_) co_return Error{Errc::kUnavailable, "redis leader election: not started"};
  const std::string lease = LeaseKey(job), counter = lease + ":term", floor = std::to_string(term),
                    ms = std::to_string(ttl / kMillis);
  auto r = co_await client_->Command(Deadline::After(timeout_), "EVAL", kAcquire, "2", lease,
                                     counter, holder_, floor, ms);  // suspends
  if (!r) co_return r.error();
  if (r->type != RedisReply::Type::kInteger)
    co_return Error{Errc::kInternal, "redis leader election: unexpected reply " + r->Describe()};
  co_return LeaderClaim{.won = r->integer > 0, .term = r->integer};
}

reactor::Task<Result<bool>> RedisLeaderElection::Renew(std::string job, int64_t term, Nanos ttl) {
  if (!client_) co_return Error{Errc::kUnavailable, "redis leader election: not started"};
  const std::string lease = LeaseKey(job), value = holder_ + "#" + std::to_string(term),
                    ms = std::to_string(ttl / kMillis);
  auto r = co_await client_->Command(Deadline::After(timeout_), "EVAL", kRenew, "1", lease, value,
                                     ms);  // suspends
  if (!r) co_return r.error();
  co_return r->type == RedisReply::Type::kInteger && r->integer == 1;
}

reactor::Task<Status> RedisLeaderElection::Release(std::string job, int64_t term) {
  if (!client_) co_return Status{};
  const std::string lease = LeaseKey(job), value = holder_ + "#" + std::to_string(term);
  auto r = co_await client_->Command(Deadline::After(timeout_), "EVAL", kRelease, "1", lease,
                                     value);  // suspends
  if (!r) co_return r.error();
  co_return Status{};
}

reactor::Task<void> RedisLeaderElection::Close() {
  if (client_) co_await client_->Close();  // suspends
}

}  // namespace rf::store::redis

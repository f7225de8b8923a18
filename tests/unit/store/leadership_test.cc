// Leadership (store/leadership.h): the election rounds over an authority and an arbiter, here
// in-memory fakes with the semantics of the PostgreSQL lease rows and the Redis lease, so the
// hand-overs (release, expiry), the fallback without the arbiter and the recovery from an
// arbiter whose term counter fell behind run deterministically on a one-shard reactor.

#include "store/leadership.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "test_support.h"

namespace rf::store {
namespace {

using reactor::Reactor;
using reactor::Task;

struct Lease {
  std::string holder;
  int64_t term = 0;
  Nanos expires = 0;  // monotonic
};

// The database: a row per job; a holder may be cut off from it (a partitioned daemon).
struct FakeDb {
  std::map<std::string, Lease> rows;
  std::map<std::string, bool> cut_off;
};

class FakeAuthority final : public LeaderElection {
 public:
  FakeAuthority(FakeDb& db, std::string holder) : db_(db), holder_(std::move(holder)) {}
  std::string_view backend() const override { return "postgres"; }
  Task<Result<LeaderClaim>> Acquire(std::string job, int64_t term, Nanos ttl) override {
    if (db_.cut_off[holder_]) co_return Error{Errc::kUnavailable, "cut off"};
    Lease& l = db_.rows[job];
    if (l.expires > MonoNow() && l.holder != holder_) co_return LeaderClaim{false, l.term};
    const int64_t next = term > 0 ? term : l.term + 1;
    if (next <= l.term) co_return LeaderClaim{false, l.term};
    l = {holder_, next, MonoNow() + ttl};
    co_return LeaderClaim{true, next};
  }
  Task<Result<bool>> Renew(std::string job, int64_t term, Nanos ttl) override {
    if (db_.cut_off[holder_]) co_return Error{Errc::kUnavailable, "cut off"};
    Lease& l = db_.rows[job];
    if (l.holder != holder_ || l.term != term || l.expires <= MonoNow()) co_return false;
    l.expires = MonoNow() + ttl;
    co_return true;
  }
  Task<Status> Release(std::string job, int64_t term) override {
    Lease& l = db_.rows[job];
    if (l.holder == holder_ && l.term == term) l.expires = 0;
    co_return Status{};
  }

 private:
  FakeDb& db_;
  std::string holder_;
};

struct FakeRedis {
  std::map<std::string, Lease> keys;
  std::map<std::string, int64_t> counters;
  bool down = false;
};

class FakeArbiter final : public LeaderElection {
 public:
  FakeArbiter(FakeRedis& r, std::string holder) : r_(r), holder_(std::move(holder)) {}
  std::string_view backend() const override { return "redis"; }
  Task<Result<LeaderClaim>> Acquire(std::string job, int64_t floor, Nanos ttl) override {
    if (r_.down) co_return Error{Errc::kUnavailable, "redis down"};
    Lease& k = r_.keys[job];
    if (k.expires > MonoNow()) co_return LeaderClaim{false, 0};
    int64_t& c = r_.counters[job];
    c = std::max(c + 1, floor + 1);
    k = {holder_, c, MonoNow() + ttl};
    co_return LeaderClaim{true, c};
  }
  Task<Result<bool>> Renew(std::string job, int64_t term, Nanos ttl) override {
    if (r_.down) co_return Error{Errc::kUnavailable, "redis down"};
    Lease& k = r_.keys[job];
    const bool mine = k.holder == holder_ && k.term == term;
    if (k.expires > MonoNow() && !mine) co_return false;
    k = {holder_, term, MonoNow() + ttl};
    co_return true;
  }
  Task<Status> Release(std::string job, int64_t term) override {
    if (r_.down) co_return Error{Errc::kUnavailable, "redis down"};
    Lease& k = r_.keys[job];
    if (k.holder == holder_ && k.term == term) k.expires = 0;
    co_return Status{};
  }

 private:
  FakeRedis& r_;
  std::string holder_;
};

constexpr Nanos kTtl = 200 * kMillis;
constexpr Nanos kRenew = 20 * kMillis;
const std::string kJob(kJobHistoryRetention);

struct Daemon {
  FakeAuthority authority;
  FakeArbiter arbiter;
  Leadership leadership;
  Daemon(FakeDb& db, FakeRedis& redis, const std::string& id, bool with_redis)
      : authority(db, id), arbiter(redis, id),
        leadership({.holder = id, .ttl = kTtl, .renew = kRenew}, &authority,
                   with_redis ? &arbiter : nullptr) {}
};

int Leaders(Daemon& a, Daemon& b, std::string_view job) {
  return (a.leadership.Leads(job) ? 1 : 0) + (b.leadership.Leads(job) ? 1 : 0);
}

// Waits (in rounds) until `pred`; false after `limit`.
template <class Pred>
Task<bool> Within(Nanos limit, Pred pred) {
  for (Nanos waited = 0; waited <= limit; waited += 5 * kMillis) {
    if (pred()) co_return true;
    co_await reactor::Sleep(5 * kMillis);  // suspends
  }
  co_return pred();
}

Task<void> HandOverBody(bool with_redis) {
  FakeDb db;
  FakeRedis redis;
  Daemon a(db, redis, "a", with_redis), b(db, redis, "b", with_redis);
  a.leadership.Start();
  b.leadership.Start();
  CHECK(co_await Within(kTtl, [&] {  // suspends
    return Leaders(a, b, kJobHistoryRetention) == 1 && Leaders(a, b, kJobAuditRetention) == 1;
  }));
  // Never two leaders of a job, round after round; the term is the database's.
  for (int i = 0; i < 20; ++i) {
    CHECK(Leaders(a, b, kJob) == 1);
    co_await reactor::Sleep(kRenew);  // suspends
  }
  Daemon& leader = a.leadership.Leads(kJob) ? a : b;
  Daemon& standby = &leader == &a ? b : a;
  const int64_t term = leader.leadership.Term(kJob);
  CHECK(db.rows[kJob].holder == (&leader == &a ? "a" : "b"));
  CHECK(db.rows[kJob].term == term);
  // A clean stop releases: the standby leads within a couple of rounds, well inside the TTL.
  const Nanos t0 = MonoNow();
  co_await leader.leadership.Close();  // suspends
  CHECK(co_await Within(kTtl, [&] { return standby.leadership.Leads(kJob); }));  // suspends
  CHECK(MonoNow() - t0 < kTtl);
  CHECK(standby.leadership.Term(kJob) > term);
  co_await standby.leadership.Close();  // suspends
}

TEST_SUITE("store.leadership") {

TEST_CASE("one leader per job; a clean stop hands the jobs over before the TTL, with Redis" *
          doctest::timeout(30)) {
  test::RunOnReactor(1, [](Reactor&) { return HandOverBody(true); });
}

TEST_CASE("one leader per job; a clean stop hands the jobs over before the TTL, PostgreSQL alone" *
          doctest::timeout(30)) {
  test::RunOnReactor(1, [](Reactor&) { return HandOverBody(false); });
}

Task<void> FallbackBody() {
  FakeDb db;
  FakeRedis redis;
  Daemon a(db, redis, "a", true), b(db, redis, "b", true);
  a.leadership.Start();
  b.leadership.Start();
  CHECK(co_await Within(kTtl, [&] { return Leaders(a, b, kJob) == 1; }));  // suspends
  Daemon& leader = a.leadership.Leads(kJob) ? a : b;
  Daemon& standby = &leader == &a ? b : a;
  const std::string leader_id = &leader == &a ? "a" : "b";
  const int64_t term = leader.leadership.Term(kJob);
  // Redis goes away: the leader keeps its lease (in the database), nobody else leads.
  redis.down = true;
  CHECK(co_await Within(kTtl, [&] { return !a.leadership.arbiter_up() && !b.leadership.arbiter_up(); }));
  for (int i = 0; i < 15; ++i) {
    CHECK(leader.leadership.Term(kJob) == term);
    CHECK_FALSE(standby.leadership.Leads(kJob));
    co_await reactor::Sleep(kRenew);  // suspends
  }
  // The leader is cut off from the database (as if dead): it stops (at ttl - renew after its last
  // renewal, before its lease can expire), and the standby takes the job over in the database
  // alone once the lease has expired.
  db.cut_off[leader_id] = true;
  CHECK(co_await Within(kTtl, [&] { return !leader.leadership.Leads(kJob); }));  // suspends
  CHECK(co_await Within(2 * kTtl, [&] { return standby.leadership.Leads(kJob); }));  // suspends
  CHECK(standby.leadership.Term(kJob) == term + 1);
  // Redis comes back empty (its term counter at 0): the new leader takes the Redis lease too,
  // and a later contender, once refused by the database, asks Redis for a term above it.
  db.cut_off[leader_id] = false;
  redis = FakeRedis{};
  CHECK(co_await Within(kTtl, [&] { return a.leadership.arbiter_up() && b.leadership.arbiter_up(); }));
  CHECK(redis.keys[kJob].holder == (&standby == &a ? "a" : "b"));
  co_await standby.leadership.Close();  // suspends
  CHECK(co_await Within(kTtl, [&] { return leader.leadership.Leads(kJob); }));  // suspends
  CHECK(leader.leadership.Term(kJob) > term + 1);
  CHECK(db.rows[kJob].term == leader.leadership.Term(kJob));
  co_await leader.leadership.Close();  // suspends
}

TEST_CASE("without Redis the election goes on in the database, and Redis is used again once back" *
          doctest::timeout(30)) {
  test::RunOnReactor(1, [](Reactor&) { return FallbackBody(); });
}

TEST_CASE("without an authority (one daemon) every job is led, at term 0") {
  Leadership solo({}, nullptr, nullptr);
  CHECK(solo.Leads(kJobHistoryRetention));
  CHECK(solo.Leads(kJobAuditRetention));
  CHECK(solo.Term(kJobHistoryRetention) == 0);
  std::string out;
  solo.RenderMetrics(out);
  CHECK(out.find("rf_leader{task=\"history-retention\"} 1") != std::string::npos);
}

}  // TEST_SUITE
}  // namespace
}  // namespace rf::store

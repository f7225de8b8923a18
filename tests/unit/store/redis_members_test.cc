// Membership heartbeats in Redis: when the view may be trusted (MemberView, pure), and the
// directory against a real redis-server started by tools/redis.sh (entry, TTL, index, leave).

#include "store/redis/redis_members.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/redis_server.h"
#include "test_support.h"

namespace rf::store::redis {
namespace {

using reactor::Task;
using test::RedisServer;

constexpr Nanos kTtl = 2 * kSeconds, kStale = 1 * kSeconds;
using Ids = std::vector<std::string>;

RedisUrl Url(const std::string& text) {
  Result<RedisUrl> u = ParseRedisUrl(text);
  REQUIRE_MESSAGE(u.has_value(), text);
  return *u;
}

Task<RedisReply> Cmd(RedisClient* c, std::string a, std::string b) {
  auto r = co_await c->Command(Deadline::After(5 * kSeconds), a, b);  // suspends
  if (!r) {
    FAIL_CHECK(a << ": " << r.error().ToString());
    co_return RedisReply::Nil();
  }
  co_return std::move(*r);
}

Task<void> WaitFor(RedisMemberDirectory* d, Ids want, Nanos limit) {
  const Nanos end = MonoNow() + limit;
  while (MonoNow() < end && d->Live() != std::optional<Ids>(want)) co_await reactor::Sleep(20 * kMillis);
  CHECK(d->Live() == std::optional<Ids>(want));
}

Task<void> DirectoryBody(std::string url) {
  RedisClient c({.url = Url(url)});
  c.Start();
  co_await Cmd(&c, "DEL", std::string(RedisMemberDirectory::kIndex));
  RedisMemberDirectory a({.url = Url(url), .instance = "m-a", .advertise = "10.0.0.1:8080", .ttl = 600 * kMillis,
                          .beat = 100 * kMillis});
  RedisMemberDirectory b({.url = Url(url), .instance = "m-b", .advertise = "10.0.0.2:8080", .ttl = 600 * kMillis,
                          .beat = 100 * kMillis});
  CHECK_FALSE(a.Live().has_value());  // not started
  a.Start();
  b.Start();
  // Trusted after a TTL of good beats; both see both.
  // (Named, not braced in the co_await: GCC 12 rejects "array used as initializer" there.)
  const Ids both = {"m-a", "m-b"}, only_a = {"m-a"};
  co_await WaitFor(&a, both, 5 * kSeconds);
  co_await WaitFor(&b, both, 5 * kSeconds);
  RedisReply v = co_await Cmd(&c, "GET", RedisMemberDirectory::EntryKey("m-a"));
  CHECK(v.str.starts_with("{\"advertise\":\"10.0.0.1:8080\",\"started_ms\":"));
  RedisReply ttl = co_await Cmd(&c, "PTTL", RedisMemberDirectory::EntryKey("m-a"));
  CHECK(ttl.integer > 0);
  CHECK(ttl.integer <= 600);
  const uint64_t seen = a.changes();
  // b leaves: its entry and its index member are gone at once, and a's view changes.
  co_await b.Leave();
  RedisReply gone = co_await Cmd(&c, "EXISTS", RedisMemberDirectory::EntryKey("m-b"));
  CHECK(gone.integer == 0);
  co_await WaitFor(&a, only_a, 2 * kSeconds);
  CHECK(a.changes() > seen);
  std::string metrics;
  a.RenderMetrics(metrics);
  CHECK(metrics.find("rf_cluster_membership_up 1") != std::string::npos);
  CHECK(metrics.find("rf_cluster_membership_redis_members 1") != std::string::npos);
  co_await a.Leave();
  RedisReply empty = co_await Cmd(&c, "EXISTS", std::string(RedisMemberDirectory::kIndex));
  CHECK(empty.integer == 0);
  co_await c.Close();
}

}  // namespace

TEST_SUITE("store.redis_members") {
  TEST_CASE("a view is trusted only after a TTL of good beats, and not once a beat fails") {
    MemberView v(kTtl, kStale);
    CHECK_FALSE(v.Live(0).has_value());
    v.Ok(1 * kSeconds, {"a", "b"});
    CHECK_FALSE(v.Live(1 * kSeconds).has_value());  // Redis may just have restarted empty
    v.Ok(3 * kSeconds, {"a", "b"});
    REQUIRE(v.Live(3 * kSeconds).has_value());
    CHECK(*v.Live(3 * kSeconds) == Ids{"a", "b"});
    const uint64_t c = v.changes();
    v.Ok(3250 * kMillis, {"a"});  // b left
    CHECK(*v.Live(3250 * kMillis) == Ids{"a"});
    CHECK(v.changes() == c + 1);
    v.Failed(3500 * kMillis);
    CHECK_FALSE(v.Live(3500 * kMillis).has_value());
    CHECK(v.fallbacks() == 1);
    CHECK(v.changes() == c + 2);
    v.Ok(3750 * kMillis, {"a"});  // back, but not for a TTL yet
    CHECK_FALSE(v.Live(3750 * kMillis).has_value());
    v.Ok(5750 * kMillis, {"a"});
    CHECK(v.Live(5750 * kMillis).has_value());
    CHECK(v.fallbacks() == 1);
  }

  TEST_CASE("a view whose last good beat is older than the staleness bound is not used") {
    MemberView v(kTtl, kStale);
    v.Ok(0, {"a"});
    v.Ok(2 * kSeconds, {"a"});
    CHECK(v.Live(2 * kSeconds).has_value());
    CHECK(v.Live(3 * kSeconds).has_value());
    CHECK_FALSE(v.Live(3 * kSeconds + 1).has_value());  // the beats stopped answering
  }

  TEST_CASE("the entry's value is JSON whatever the address holds") {
    CHECK(RedisMemberDirectory::EntryValue("h:1", 5) == R"({"advertise":"h:1","started_ms":5})");
    CHECK(RedisMemberDirectory::EntryValue("a\"b\\c\n", 7) == R"({"advertise":"a\"b\\c","started_ms":7})");
  }

  TEST_CASE("entries in Redis: beaten with a TTL, listed through the index, deleted at leave" *
            doctest::timeout(30)) {
    const RedisServer& s = RedisServer::Shared();
    if (!s.ok()) FAIL("no Redis for the store.redis suite: " << s.error());
    const std::string url = s.url() + "/9";
    test::RunOnReactor(1, [url](reactor::Reactor&) { return DirectoryBody(url); });
  }
}

}  // namespace rf::store::redis

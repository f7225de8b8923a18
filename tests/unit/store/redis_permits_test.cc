// The cluster's step permits on a real Redis (store/redis/redis_permits.h): the limit holds over
// holders, the line lets the oldest holder go first and a served holder rejoins at the back, a
// give-back hands the lease over in one step, leases and silent holders end after lease_ttl, and
// renewal keeps a lease past it.

#include "store/redis/redis_permits.h"

#include <doctest/doctest.h>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/redis_server.h"
#include "test_support.h"

namespace rf::store::redis {
namespace {

using reactor::Task;
using test::RedisServer;

std::string FreshId(std::string_view what) {
  return "unit/" + std::string(what) + "\nk-" + std::to_string(MonoNow());
}

// Holders a and b, limit 2: a takes both; b waits in line and is first when one comes back, even
// though a asks again before b does; a served holder leaves the line.
Task<void> LineBody(std::string url) {
  RedisPermitShare a(*ParseRedisUrl(url), "unit-a", 0, 5 * kSeconds);
  RedisPermitShare b(*ParseRedisUrl(url), "unit-b", 1, 5 * kSeconds);
  a.Start();
  b.Start();
  const std::string id = FreshId("line");
  auto r = co_await a.Acquire(id, 2, "1", "");  // suspends
  CO_REQUIRE_MESSAGE(r.has_value(), r.error().ToString());
  CHECK(*r);
  r = co_await a.Acquire(id, 2, "2", "");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK(*r);
  r = co_await b.Acquire(id, 2, "1", "");  // suspends: full, b joins the line
  CO_REQUIRE(r.has_value());
  CHECK_FALSE(*r);
  // a gives lease 1 back and asks again in the same step: b is ahead, so a waits...
  r = co_await a.Acquire(id, 2, "3", "1");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK_FALSE(*r);
  // ...and b, asking again, gets the freed lease; a is next.
  r = co_await b.Acquire(id, 2, "2", "");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK(*r);
  r = co_await b.Acquire(id, 2, "3", "");  // suspends: full again; a is ahead of b now
  CO_REQUIRE(r.has_value());
  CHECK_FALSE(*r);
  Status st = co_await a.Release(id, "2", false);  // suspends
  CHECK(st.has_value());
  r = co_await b.Acquire(id, 2, "3", "");  // suspends: a free lease, but a is ahead
  CO_REQUIRE(r.has_value());
  CHECK_FALSE(*r);
  r = co_await a.Acquire(id, 2, "4", "");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK(*r);
  // A holder that leaves the line lets the next one go.
  st = co_await a.Release(id, "4", false);  // suspends: b is the line's head now
  CHECK(st.has_value());
  r = co_await b.Acquire(id, 2, "3", "");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK(*r);
  co_await a.Close();  // suspends
  co_await b.Close();  // suspends
}

// A lease not renewed ends after lease_ttl; a renewed one does not. A holder that stopped asking
// leaves the line after lease_ttl, and one that leaves with Release(leave_line) at once.
Task<void> TtlBody(std::string url) {
  constexpr Nanos kTtl = 1500 * kMillis;  // a slow machine still renews well within it
  RedisPermitShare a(*ParseRedisUrl(url), "unit-a", 0, 5 * kSeconds, {}, kTtl);
  RedisPermitShare b(*ParseRedisUrl(url), "unit-b", 0, 5 * kSeconds, {}, kTtl);
  a.Start();
  b.Start();
  const std::string id = FreshId("ttl");
  auto r = co_await a.Acquire(id, 1, "1", "");  // suspends
  CO_REQUIRE_MESSAGE(r.has_value(), r.error().ToString());
  CHECK(*r);
  std::vector<std::string> mine;  // (GCC 12: no braced list inside a co_await)
  mine.push_back("1");
  for (int i = 0; i < 4; ++i) {
    co_await reactor::Sleep(kTtl / 3);  // suspends
    Status st = co_await a.Renew(id, mine);  // suspends
    CHECK(st.has_value());
  }
  r = co_await b.Acquire(id, 1, "1", "");  // suspends: still held (renewed), b in line
  CO_REQUIRE(r.has_value());
  CHECK_FALSE(*r);
  Status st = co_await b.Release(id, "", true);  // suspends: b leaves the line
  CHECK(st.has_value());
  co_await reactor::Sleep(kTtl + 200 * kMillis);  // suspends: a's lease ends
  r = co_await b.Acquire(id, 1, "2", "");          // suspends
  CO_REQUIRE(r.has_value());
  CHECK(*r);
  // a waits behind b's lease, then goes silent: after lease_ttl it no longer holds the line.
  r = co_await a.Acquire(id, 1, "2", "");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK_FALSE(*r);
  st = co_await b.Release(id, "2", false);        // suspends
  co_await reactor::Sleep(kTtl + 200 * kMillis);  // suspends
  RedisPermitShare c(*ParseRedisUrl(url), "unit-c", 0, 5 * kSeconds, {}, kTtl);
  c.Start();
  r = co_await c.Acquire(id, 1, "1", "");  // suspends
  CO_REQUIRE(r.has_value());
  CHECK(*r);
  co_await a.Close();  // suspends
  co_await b.Close();  // suspends
  co_await c.Close();  // suspends
}

}  // namespace

TEST_SUITE("store.redis_permits") {
  TEST_CASE("the acquire script's reply is 0 or 1, anything else an error") {
    CHECK(*ParseAcquireReply(RedisReply::Integer(1)));
    CHECK_FALSE(*ParseAcquireReply(RedisReply::Integer(0)));
    CHECK_FALSE(ParseAcquireReply(RedisReply::Integer(2)));
    CHECK_FALSE(ParseAcquireReply(RedisReply::String("1")));
    CHECK_FALSE(ParseAcquireReply(RedisReply::Array({RedisReply::Integer(1)})));
  }

  TEST_CASE("holders take turns through the line on a real server" * doctest::timeout(30)) {
    const RedisServer& server = RedisServer::Shared();
    if (!server.ok()) FAIL("no Redis: " << server.error());
    const std::string url = server.url();
    test::RunOnReactor(1, [url](reactor::Reactor&) { return LineBody(url); });
  }

  TEST_CASE("leases and silent holders end after lease_ttl; renewed leases last" * doctest::timeout(30)) {
    const RedisServer& server = RedisServer::Shared();
    if (!server.ok()) FAIL("no Redis: " << server.error());
    const std::string url = server.url();
    test::RunOnReactor(1, [url](reactor::Reactor&) { return TtlBody(url); });
  }
}

}  // namespace rf::store::redis

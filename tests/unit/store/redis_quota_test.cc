#include "store/redis/redis_quota.h"

#include <doctest/doctest.h>

#include <map>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/redis_server.h"
#include "test_support.h"

namespace rf::store::redis {
namespace {

using reactor::Task;
using test::RedisServer;

std::map<std::string, int64_t> AsMap(const QuotaShare::Counts& c) {
  return std::map<std::string, int64_t>(c.begin(), c.end());
}

// The rate script on a real server: a batch is at most what the bucket holds, an empty bucket
// names the wait, and a server that lost its scripts (SCRIPT FLUSH) gets them again.
Task<void> BatchesBody(std::string url) {
  RedisQuotaShare q(*ParseRedisUrl(url), "unit", 5 * kSeconds);
  q.Start();
  const std::string key = "starts:unit-" + std::to_string(MonoNow());
  // One token every 2 s: a slow machine does not refill it between the calls.
  auto a = co_await q.TakeBatch(key, 0.5, 3, 2);  // suspends; a new bucket is full: 3
  CO_REQUIRE(a.has_value());
  CHECK(a->granted == 2);
  auto b = co_await q.TakeBatch(key, 0.5, 3, 2);  // suspends
  CO_REQUIRE(b.has_value());
  CHECK(b->granted == 1);
  auto c = co_await q.TakeBatch(key, 0.5, 3, 2);  // suspends
  CO_REQUIRE(c.has_value());
  CHECK(c->granted == 0);
  CHECK(c->wait > 0);
  CHECK(c->wait <= 2 * kSeconds);
  RedisClient raw({.url = *ParseRedisUrl(url)});
  raw.Start();
  auto flushed =
      co_await raw.Command(Deadline::After(5 * kSeconds), "SCRIPT", "FLUSH");  // suspends
  CHECK(flushed.has_value());
  co_await raw.Close();                             // suspends
  co_await reactor::Sleep(c->wait + 10 * kMillis);  // suspends
  auto d = co_await q.TakeBatch(key, 0.5, 3, 2);    // suspends; NOSCRIPT, loaded again
  CO_REQUIRE_MESSAGE(d.has_value(), d.error().ToString());
  CHECK(d->granted == 1);
  co_await q.Close();  // suspends
}

// Two instances publish their live runs; each reads the other's, never its own.
Task<void> LiveBody(std::string url) {
  // (GCC 12 rejects braced lists inside a coroutine's co_await: named values instead.)
  const QuotaShare::Counts a1 = {{"x", 2}}, b1 = {{"x", 1}, {"y", 5}}, b2 = {{"y", 4}};
  const std::map<std::string, int64_t> only_x2 = {{"x", 2}}, x1_y5 = {{"x", 1}, {"y", 5}};
  RedisQuotaShare a(*ParseRedisUrl(url), "unit-a", 5 * kSeconds);
  RedisQuotaShare b(*ParseRedisUrl(url), "unit-b", 5 * kSeconds);
  a.Start();
  b.Start();
  auto ra = co_await a.ExchangeLive(a1);  // suspends
  CO_REQUIRE(ra.has_value());
  CHECK(ra->empty());
  auto rb = co_await b.ExchangeLive(b1);  // suspends
  CO_REQUIRE(rb.has_value());
  CHECK(AsMap(*rb) == only_x2);
  ra = co_await a.ExchangeLive(QuotaShare::Counts());  // suspends; a has none left
  CO_REQUIRE(ra.has_value());
  CHECK(AsMap(*ra) == x1_y5);
  rb = co_await b.ExchangeLive(b2);  // suspends
  CO_REQUIRE(rb.has_value());
  CHECK(rb->empty());
  co_await a.Close();  // suspends
  co_await b.Close();  // suspends
}

RedisReply Ints(int64_t a, int64_t b) {
  return RedisReply::Array({RedisReply::Integer(a), RedisReply::Integer(b)});
}

TEST_SUITE("store.redis_quota") {
  TEST_CASE("the rate script's reply: tokens granted and the wait in microseconds") {
    auto b = ParseBatchReply(Ints(3, 0));
    REQUIRE(b);
    CHECK(b->granted == 3);
    CHECK(b->wait == 0);
    auto empty = ParseBatchReply(Ints(0, 12500));
    REQUIRE(empty);
    CHECK(empty->granted == 0);
    CHECK(empty->wait == 12500 * 1000);  // µs -> ns
  }

  TEST_CASE("a rate reply of another shape is an error, not a grant") {
    CHECK_FALSE(ParseBatchReply(RedisReply::Integer(3)));
    CHECK_FALSE(ParseBatchReply(RedisReply::Array({RedisReply::Integer(3)})));
    CHECK_FALSE(
        ParseBatchReply(RedisReply::Array({RedisReply::String("3"), RedisReply::Integer(0)})));
    CHECK_FALSE(ParseBatchReply(Ints(-1, 0)));
    CHECK_FALSE(ParseBatchReply(Ints(1, -5)));
    CHECK_FALSE(ParseBatchReply(RedisReply::Nil()));
    auto e = ParseBatchReply(RedisReply::Status("OK"));
    REQUIRE_FALSE(e);
    CHECK(e.error().code == Errc::kInternal);
  }

  TEST_CASE("the live script's reply: the other instances' runs per namespace") {
    auto c =
        ParseLiveReply(RedisReply::Array({RedisReply::String("team-a"), RedisReply::Integer(4),
                                          RedisReply::String("default"), RedisReply::Integer(1)}));
    REQUIRE(c);
    REQUIRE(c->size() == 2);
    CHECK((*c)[0] == std::pair<std::string, int64_t>{"team-a", 4});
    CHECK((*c)[1] == std::pair<std::string, int64_t>{"default", 1});
    auto none = ParseLiveReply(RedisReply::Array({}));
    REQUIRE(none);
    CHECK(none->empty());
  }

  TEST_CASE("a rate's batches on a real server" * doctest::timeout(30)) {
    const RedisServer& server = RedisServer::Shared();
    if (!server.ok()) FAIL("no Redis: " << server.error());
    const std::string url = server.url();
    test::RunOnReactor(1, [url](reactor::Reactor&) { return BatchesBody(url); });
  }

  TEST_CASE("live runs exchanged between two instances on a real server" * doctest::timeout(30)) {
    const RedisServer& server = RedisServer::Shared();
    if (!server.ok()) FAIL("no Redis: " << server.error());
    const std::string url = server.url();
    test::RunOnReactor(1, [url](reactor::Reactor&) { return LiveBody(url); });
  }

  TEST_CASE("a live reply of another shape is an error") {
    CHECK_FALSE(ParseLiveReply(RedisReply::Array({RedisReply::String("team-a")})));
    CHECK_FALSE(
        ParseLiveReply(RedisReply::Array({RedisReply::Integer(1), RedisReply::Integer(4)})));
    CHECK_FALSE(
        ParseLiveReply(RedisReply::Array({RedisReply::String("a"), RedisReply::String("4")})));
    CHECK_FALSE(
        ParseLiveReply(RedisReply::Array({RedisReply::String("a"), RedisReply::Integer(-1)})));
    CHECK_FALSE(ParseLiveReply(RedisReply::Integer(0)));
  }
}

}  // namespace
}  // namespace rf::store::redis

#include "store/redis/redis_quota.h"

#include <doctest/doctest.h>

namespace rf::store::redis {
namespace {

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
    CHECK_FALSE(ParseBatchReply(RedisReply::Array({RedisReply::String("3"), RedisReply::Integer(0)})));
    CHECK_FALSE(ParseBatchReply(Ints(-1, 0)));
    CHECK_FALSE(ParseBatchReply(Ints(1, -5)));
    CHECK_FALSE(ParseBatchReply(RedisReply::Nil()));
    auto e = ParseBatchReply(RedisReply::Status("OK"));
    REQUIRE_FALSE(e);
    CHECK(e.error().code == Errc::kInternal);
  }

  TEST_CASE("the live script's reply: the other instances' runs per namespace") {
    auto c = ParseLiveReply(RedisReply::Array({RedisReply::String("team-a"), RedisReply::Integer(4),
                                               RedisReply::String("default"), RedisReply::Integer(1)}));
    REQUIRE(c);
    REQUIRE(c->size() == 2);
    CHECK((*c)[0] == std::pair<std::string, int64_t>{"team-a", 4});
    CHECK((*c)[1] == std::pair<std::string, int64_t>{"default", 1});
    auto none = ParseLiveReply(RedisReply::Array({}));
    REQUIRE(none);
    CHECK(none->empty());
  }

  TEST_CASE("a live reply of another shape is an error") {
    CHECK_FALSE(ParseLiveReply(RedisReply::Array({RedisReply::String("team-a")})));
    CHECK_FALSE(ParseLiveReply(RedisReply::Array({RedisReply::Integer(1), RedisReply::Integer(4)})));
    CHECK_FALSE(ParseLiveReply(RedisReply::Array({RedisReply::String("a"), RedisReply::String("4")})));
    CHECK_FALSE(ParseLiveReply(RedisReply::Array({RedisReply::String("a"), RedisReply::Integer(-1)})));
    CHECK_FALSE(ParseLiveReply(RedisReply::Integer(0)));
  }
}

}  // namespace
}  // namespace rf::store::redis

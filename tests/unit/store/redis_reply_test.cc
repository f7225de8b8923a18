#include "store/redis/redis_reply.h"

#include <doctest/doctest.h>

#include <array>
#include <string>

#include "store/redis/redis_stats.h"

namespace rf::store::redis {
namespace {

TEST_SUITE("store.redis_reply") {
  TEST_CASE("a command is encoded as a RESP array of bulk strings, bytes as they are") {
    std::string out;
    const std::string binary("a\0b\r\n\xff", 6);
    const std::array<std::string_view, 3> argv = {"SET", binary, ""};
    EncodeCommand(argv, out);
    using namespace std::string_literals;
    CHECK(out == "*3\r\n$3\r\nSET\r\n$6\r\na\0b\r\n\xff\r\n$0\r\n\r\n"s);
  }

  TEST_CASE("error replies map to Errc by their code word") {
    CHECK(ErrcFromRedisError("ERR unknown command 'NOPE'") == Errc::kInvalidArgument);
    CHECK(ErrcFromRedisError("WRONGTYPE Operation against a key") == Errc::kInvalidArgument);
    CHECK(ErrcFromRedisError("NOPERM this user has no permissions") == Errc::kInvalidArgument);
    CHECK(ErrcFromRedisError("NOSCRIPT No matching script") == Errc::kNotFound);
    CHECK(ErrcFromRedisError("BUSYKEY Target key name already exists.") == Errc::kConflict);
    CHECK(ErrcFromRedisError("LOADING Redis is loading the dataset") == Errc::kRetryLater);
    CHECK(ErrcFromRedisError("BUSY Redis is busy running a script") == Errc::kRetryLater);
    CHECK(ErrcFromRedisError("OOM command not allowed") == Errc::kRetryLater);
    CHECK(ErrcFromRedisError("NOAUTH Authentication required.") == Errc::kUnavailable);
    CHECK(ErrcFromRedisError("WRONGPASS invalid username-password pair") == Errc::kUnavailable);
    CHECK(ErrcFromRedisError("READONLY You can't write against a read only replica.") ==
          Errc::kUnavailable);
    CHECK(ErrcFromRedisError("MOVED 3999 127.0.0.1:6381") == Errc::kUnavailable);
    CHECK(ErrcFromRedisError("ERRX not a known code") == Errc::kInternal);
    CHECK(ErrcFromRedisError("") == Errc::kInternal);

    Error e =
        ReplyError("GET", "WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK(e.code == Errc::kInvalidArgument);
    CHECK(e.context ==
          "redis GET: WRONGTYPE Operation against a key holding the wrong kind of value");
  }

  TEST_CASE("Describe renders every reply type printably") {
    RedisReply array = RedisReply::Array(
        {RedisReply::Nil(), RedisReply::Integer(-3), RedisReply::String(std::string("x\0\"", 3)),
         RedisReply::Status("OK"), RedisReply::ErrorReply("ERR no")});
    CHECK(array.Describe() == "[(nil), (integer) -3, \"x\\x00\\\"\", OK, (error) ERR no]");
    CHECK(RedisReply::String(std::string(100, 'a')).Describe().find("(100 bytes)") !=
          std::string::npos);
    CHECK(RedisReply::Status("PONG").IsStatus("PONG"));
    CHECK_FALSE(RedisReply::String("PONG").IsStatus("PONG"));
    CHECK(std::string(ReplyTypeName(RedisReply::Type::kArray)) == "array");
  }

  TEST_CASE("rf_redis_* metrics sum the shards") {
    RedisStats a, b;
    a.commands.Add(3);
    b.commands.Add(4);
    a.timeouts.Add();
    b.error_replies.Add(2);
    a.connected.Set(1);
    b.connected.Set(1);
    b.reconnects.Add();
    a.latency.ObserveNanos(2'000'000);
    std::string out;
    RenderRedisMetrics({&a, &b}, out);
    CHECK(out.find("# TYPE rf_redis_commands_total counter\nrf_redis_commands_total 7\n") !=
          std::string::npos);
    CHECK(out.find("rf_redis_errors_total{kind=\"reply\"} 2\n") != std::string::npos);
    CHECK(out.find("rf_redis_errors_total{kind=\"timeout\"} 1\n") != std::string::npos);
    CHECK(out.find("rf_redis_errors_total{kind=\"unavailable\"} 0\n") != std::string::npos);
    CHECK(out.find("rf_redis_connected 2\n") != std::string::npos);
    CHECK(out.find("rf_redis_reconnects_total 1\n") != std::string::npos);
    CHECK(out.find("rf_redis_command_duration_seconds_count 1\n") != std::string::npos);
    CHECK(out.find("# TYPE rf_redis_command_duration_seconds histogram") != std::string::npos);
  }

}  // TEST_SUITE
}  // namespace
}  // namespace rf::store::redis

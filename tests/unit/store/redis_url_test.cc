#include "store/redis/redis_url.h"

#include <doctest/doctest.h>

#include <string>

namespace rf::store::redis {
namespace {

// The error message of a URL that must not parse (fails the case if it parses).
std::string Why(const std::string& url) {
  Result<RedisUrl> r = ParseRedisUrl(url);
  if (r.has_value()) {
    FAIL_CHECK("'" << url << "' parsed");
    return {};
  }
  CHECK(r.error().code == Errc::kInvalidArgument);
  return r.error().context;
}

TEST_SUITE("store.redis_url") {
  TEST_CASE("host, port and database are read, with defaults") {
    Result<RedisUrl> u = ParseRedisUrl("redis://127.0.0.1");
    REQUIRE(u.has_value());
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == 6379);
    CHECK(u->db == 0);
    CHECK_FALSE(u->auth);
    CHECK(u->Endpoint() == "127.0.0.1:6379");

    u = ParseRedisUrl("redis://cache.internal:6380/7");
    REQUIRE(u.has_value());
    CHECK(u->host == "cache.internal");
    CHECK(u->port == 6380);
    CHECK(u->db == 7);

    u = ParseRedisUrl("redis://[::1]:7000/");
    REQUIRE(u.has_value());
    CHECK(u->host == "::1");
    CHECK(u->port == 7000);
    CHECK(u->db == 0);
    CHECK(u->Endpoint() == "[::1]:7000");
  }

  TEST_CASE("rediss:// is the same URL over TLS") {
    Result<RedisUrl> u = ParseRedisUrl("rediss://:pw@cache.internal:6380/3");
    REQUIRE(u.has_value());
    CHECK(u->tls);
    CHECK(u->host == "cache.internal");
    CHECK(u->port == 6380);
    CHECK(u->db == 3);
    CHECK(u->password == "pw");
    CHECK_FALSE(ParseRedisUrl("redis://h")->tls);
    CHECK(RedactRedisUrl("rediss://u:pw@h:1") == "rediss://***@h:1");
  }

  TEST_CASE("credentials: an ACL user with a password, or a password alone, percent-decoded") {
    Result<RedisUrl> u = ParseRedisUrl("redis://ringflow:s%40cret%3Ax@localhost:6379/2");
    REQUIRE(u.has_value());
    CHECK(u->auth);
    CHECK(u->user == "ringflow");
    CHECK(u->password == "s@cret:x");
    CHECK(u->host == "localhost");
    CHECK(u->db == 2);

    u = ParseRedisUrl("redis://:only-a-password@h");
    REQUIRE(u.has_value());
    CHECK(u->auth);
    CHECK(u->user.empty());
    CHECK(u->password == "only-a-password");
  }

  TEST_CASE("every malformed URL gets an error that says what is wrong") {
    CHECK(Why("").find("expected redis://") != std::string::npos);
    CHECK(Why("http://h").find("expected redis://") != std::string::npos);
    CHECK(Why("127.0.0.1:6379").find("expected redis://") != std::string::npos);
    CHECK(Why("rediss://").find("missing host") != std::string::npos);
    CHECK(Why("redis:/h").find("rediss:// for TLS") != std::string::npos);
    CHECK(Why("unix:///tmp/redis.sock").find("unix sockets") != std::string::npos);
    CHECK(Why("redis://").find("missing host") != std::string::npos);
    CHECK(Why("redis://:6379").find("missing host") != std::string::npos);
    CHECK(Why("redis://h:").find("empty port") != std::string::npos);
    CHECK(Why("redis://h:0").find("1-65535") != std::string::npos);
    CHECK(Why("redis://h:65536").find("1-65535") != std::string::npos);
    CHECK(Why("redis://h:63x").find("1-65535") != std::string::npos);
    CHECK(Why("redis://h:-1").find("1-65535") != std::string::npos);
    CHECK(Why("redis://h/x").find("database 'x'") != std::string::npos);
    CHECK(Why("redis://h/-1").find("0-2147483647") != std::string::npos);
    CHECK(Why("redis://h/99999999999").find("0-2147483647") != std::string::npos);
    CHECK(Why("redis://h/0/1").find("unexpected path") != std::string::npos);
    CHECK(Why("redis://h?db=1").find("query parameters") != std::string::npos);
    CHECK(Why("redis://h#x").find("fragment") != std::string::npos);
    CHECK(Why("redis://user@h").find("needs a password") != std::string::npos);
    CHECK(Why("redis://@h").find("'@' without") != std::string::npos);
    CHECK(Why("redis://:@h").find("empty password") != std::string::npos);
    CHECK(Why("redis://u:p@ss@h").find("%40") != std::string::npos);
    CHECK(Why("redis://u:p%zz@h").find("percent-encoding") != std::string::npos);
    CHECK(Why("redis://u:p%4@h").find("percent-encoding") != std::string::npos);
    CHECK(Why("redis://u:a b@h").find("space") != std::string::npos);
    CHECK(Why("redis://ho st").find("invalid character ' '") != std::string::npos);
    CHECK(Why("redis://::1:6379").find("brackets") != std::string::npos);
    CHECK(Why("redis://[::1").find("unterminated") != std::string::npos);
    CHECK(Why("redis://[nope]:1").find("not an IPv6 address") != std::string::npos);
    CHECK(Why("redis://[::1]x").find("':port'") != std::string::npos);
    CHECK(Why(std::string("redis://h\0x", 11)).find("control character") != std::string::npos);
    CHECK(Why("redis://" + std::string(254, 'a')).find("253") != std::string::npos);
  }

  TEST_CASE("redaction hides credentials and keeps the rest") {
    CHECK(RedactRedisUrl("redis://u:secret@h:1/2") == "redis://***@h:1/2");
    CHECK(RedactRedisUrl("redis://:secret@h") == "redis://***@h");
    CHECK(RedactRedisUrl("redis://u:p@ss@h") == "redis://***@h");
    CHECK(RedactRedisUrl("redis://h:1") == "redis://h:1");
  }

}  // TEST_SUITE
}  // namespace
}  // namespace rf::store::redis

// RedisConn and RedisClient against real redis-server processes started by tools/redis.sh (one
// shared server, plus private ones for the cases that kill or pause theirs). Without
// redis-server every case here fails and says why: tools/setup.sh installs it.

#include "store/redis/redis_client.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "reactor/offload.h"
#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/redis/redis_conn.h"
#include "store/redis_server.h"
#include "test_support.h"

namespace rf::store::redis {
namespace {

using reactor::Reactor;
using reactor::Task;
using test::RedisServer;

constexpr Nanos kWait = 10 * kSeconds;  // bound of every command that should succeed

double MillisSince(Nanos start) { return static_cast<double>(MonoNow() - start) / 1e6; }

const RedisServer& RequireServer(const RedisServer& s) {
  if (!s.ok()) FAIL("no Redis for the store.redis suite: " << s.error());
  return s;
}

RedisUrl Url(const std::string& text) {
  Result<RedisUrl> u = ParseRedisUrl(text);
  REQUIRE_MESSAGE(u.has_value(), text);
  return *u;
}

RedisClient::Options FastOptions(const std::string& url) {
  RedisClient::Options o;
  o.url = Url(url);
  o.connect_timeout = 2 * kSeconds;
  o.backoff_min = 20 * kMillis;
  o.backoff_max = 200 * kMillis;
  return o;
}

void Run(Task<void> (*body)(std::string), std::string url) {
  test::RunOnReactor(1, [body, url](Reactor&) { return body(url); });
}

Task<RedisReply> Checked(Task<Result<RedisReply>> command, std::string name) {
  Result<RedisReply> r = co_await std::move(command);  // suspends
  if (!r) {
    FAIL_CHECK(name << ": " << r.error().ToString());
    co_return RedisReply::Nil();
  }
  co_return std::move(*r);
}

// One command that must succeed; its reply (nil with a failed check otherwise). Not a coroutine:
// the arguments are encoded before it returns.
template <class... Args>
Task<RedisReply> Must(RedisClient* c, const Args&... args) {
  const std::array<std::string_view, sizeof...(Args)> argv = {std::string_view(args)...};
  return Checked(c->Command(std::span<const std::string_view>(argv), Deadline::After(kWait)),
                 std::string(argv[0]));
}

// Waits until the client is connected (or fails the case after `limit`).
Task<bool> WaitHealthy(RedisClient* c, Nanos limit) {
  const Nanos end = MonoNow() + limit;
  while (!c->healthy() && MonoNow() < end) co_await reactor::Sleep(10 * kMillis);  // suspends
  if (!c->healthy())
    FAIL_CHECK("not connected after " << limit / kMillis << " ms: " << c->last_error());
  co_return c->healthy();
}

Task<Status> Script(const RedisServer* server, const char* verb) {
  auto op = reactor::Offload([server, verb] { return server->Run(verb); });
  Status st = co_await op;  // suspends
  co_return st;
}

// ---- cases ----------------------------------------------------------------------------------

Task<void> RoundTripBody(std::string url) {
  RedisClient c(FastOptions(url));
  c.Start();
  RedisReply ok = co_await Must(&c, "SET", "rt:key", "value");
  CHECK(ok.IsStatus("OK"));
  RedisReply got = co_await Must(&c, "GET", "rt:key");
  CHECK(got.type == RedisReply::Type::kString);
  CHECK(got.str == "value");
  RedisReply nil = co_await Must(&c, "GET", "rt:absent");
  CHECK(nil.is_nil());
  co_await Must(&c, "DEL", "rt:n", "rt:list");
  RedisReply n = co_await Must(&c, "INCRBY", "rt:n", "-41");
  CHECK(n.type == RedisReply::Type::kInteger);
  CHECK(n.integer == -41);
  co_await Must(&c, "RPUSH", "rt:list", "a", "b", "c");
  RedisReply list = co_await Must(&c, "LRANGE", "rt:list", "0", "-1");
  CO_REQUIRE(list.type == RedisReply::Type::kArray);
  CO_REQUIRE(list.elements.size() == 3);
  CHECK(list.elements[2].str == "c");
  // An error inside an array (EXEC) stays a value; only a top-level error is an Error.
  co_await Must(&c, "MULTI");
  co_await Must(&c, "SET", "rt:s", "x");
  co_await Must(&c, "INCR", "rt:s");
  RedisReply exec = co_await Must(&c, "EXEC");
  CO_REQUIRE(exec.elements.size() == 2);
  CHECK(exec.elements[0].IsStatus("OK"));
  CHECK(exec.elements[1].type == RedisReply::Type::kError);
  CHECK(exec.elements[1].str.starts_with("ERR"));
  // Names resolve off the shard (localhost: maybe ::1 first, which refuses, then 127.0.0.1).
  RedisClient named(FastOptions("redis://localhost:" + url.substr(url.rfind(':') + 1)));
  named.Start();
  RedisReply pong = co_await Must(&named, "PING");
  CHECK(pong.IsStatus("PONG"));
  co_await named.Close();
  CHECK(c.stats().commands.Get() >= 10);
  CHECK(c.stats().connects.Get() == 1);
  CHECK(c.stats().latency.Count() >= 10);
  co_await c.Close();
}

Task<void> BinaryBody(std::string url) {
  RedisClient c(FastOptions(url));
  c.Start();
  const std::string key("bin:\0\r\n\xff key", 12);
  std::string value("\0\0\r\n$3\r\n*1\r\n", 13);
  for (int i = 0; i < 256; ++i) value += static_cast<char>(i);
  RedisReply ok = co_await Must(&c, "SET", key, value);
  CHECK(ok.IsStatus("OK"));
  RedisReply got = co_await Must(&c, "GET", key);
  CHECK(got.str.size() == value.size());
  CHECK(got.str == value);
  // A value larger than one recv and one send.
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>(i & 0xff);
  co_await Must(&c, "SET", "bin:big", big);
  RedisReply back = co_await Must(&c, "GET", "bin:big");
  CHECK(back.str == big);
  RedisReply empty = co_await Must(&c, "ECHO", "");
  CHECK(empty.type == RedisReply::Type::kString);
  CHECK(empty.str.empty());
  co_await c.Close();
}

Task<void> PipelinedIncr(RedisClient* c, int i, std::vector<int64_t>* got, int* done) {
  const std::string echo = "echo-" + std::to_string(i);
  Result<RedisReply> n = co_await c->Command(Deadline::After(kWait), "INCR", "pipe:seq");
  Result<RedisReply> e = co_await c->Command(Deadline::After(kWait), "ECHO", echo);
  (*got)[i] = n ? n->integer : -1;
  if (!e || e->str != echo) (*got)[i] = -2;
  ++*done;
}

Task<void> PipelineBody(std::string url) {
  RedisClient c(FastOptions(url));
  c.Start();
  co_await Must(&c, "DEL", "pipe:seq");
  constexpr int kN = 1000;
  std::vector<int64_t> got(kN, 0);
  int done = 0;
  const uint64_t sent_before = c.stats().commands.Get();
  for (int i = 0; i < kN; ++i) reactor::Spawn(PipelinedIncr(&c, i, &got, &done));
  size_t peak = 0;
  for (int turn = 0; turn < 3; ++turn) {
    co_await reactor::Yield{};  // the spawned tasks run and queue their INCRs
    peak = std::max(peak, c.in_flight());
  }
  CHECK(peak == kN);  // all in flight at once on the one connection
  const Nanos start = MonoNow();
  while (done < kN && MonoNow() - start < kWait) co_await reactor::Sleep(kMillis);
  MESSAGE(kN << " pipelined INCR + ECHO pairs: " << MillisSince(start) << " ms");
  CO_REQUIRE(done == kN);
  int in_order = 0;
  for (int i = 0; i < kN; ++i) in_order += got[i] == i + 1 ? 1 : 0;
  CHECK(in_order == kN);  // queued in spawn order, answered in that order
  CHECK(c.stats().commands.Get() - sent_before == 2 * kN);
  CHECK(c.stats().connects.Get() == 1);
  co_await c.Close();
}

Task<void> ErrorsBody(std::string url) {
  RedisClient c(FastOptions(url));
  c.Start();
  co_await Must(&c, "SET", "err:s", "not a number");
  Result<RedisReply> r = co_await c.Command(Deadline::After(kWait), "INCR", "err:s");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK(r.error().context == "redis INCR: ERR value is not an integer or out of range");
  r = co_await c.Command(Deadline::After(kWait), "LPUSH", "err:s", "x");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK(r.error().context.starts_with("redis LPUSH: WRONGTYPE"));
  r = co_await c.Command(Deadline::After(kWait), "nosuchcommand", "x");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().context.starts_with("redis NOSUCHCOMMAND: ERR unknown command"));
  r = co_await c.Command(Deadline::After(kWait), "EVALSHA", std::string(40, 'a'), "0");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kNotFound);
  // Refused before anything is sent.
  r = co_await c.Command(Deadline::After(kWait), "subscribe", "chan");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kInvalidArgument);
  CHECK(r.error().context.find("SUBSCRIBE") != std::string::npos);
  r = co_await c.Command(Deadline::After(kWait), "client", "reply", "off");
  CHECK((!r.has_value() && r.error().code == Errc::kInvalidArgument));
  r = co_await c.Command(std::span<const std::string_view>(), Deadline::After(kWait));
  CHECK(!r.has_value());
  // The connection carried on through all of it.
  RedisReply pong = co_await Must(&c, "PING");
  CHECK(pong.IsStatus("PONG"));
  CHECK(c.stats().error_replies.Get() == 4);
  CHECK(c.stats().connects.Get() == 1);
  co_await c.Close();
}

Task<void> AuthBody(std::string url) {
  RedisClient admin(FastOptions(url));
  admin.Start();
  co_await Must(&admin, "ACL", "SETUSER", "rf-test", "reset", "on", ">s3cret:x", "~*", "+@all");
  co_await Must(&admin, "ACL", "SETUSER", "rf-reader", "reset", "on", ">pw", "~*", "+get", "+ping");
  const std::string hostport = url.substr(std::string("redis://").size());

  RedisClient user(FastOptions("redis://rf-test:s3cret%3Ax@" + hostport + "/3"));
  user.Start();
  RedisReply who = co_await Must(&user, "ACL", "WHOAMI");
  CHECK(who.str == "rf-test");
  co_await Must(&user, "SET", "auth:db3", "in three");
  RedisReply in0 = co_await Must(&admin, "GET", "auth:db3");
  CHECK(in0.is_nil());  // SELECT 3 took effect on the user's connection
  co_await Must(&user, "DEL", "auth:db3");
  co_await user.Close();

  // NOPERM: the ACL user may not SET.
  RedisClient reader(FastOptions("redis://rf-reader:pw@" + hostport));
  reader.Start();
  Result<RedisReply> denied = co_await reader.Command(Deadline::After(kWait), "SET", "k", "v");
  CO_REQUIRE(!denied.has_value());
  CHECK(denied.error().context.find("NOPERM") != std::string::npos);
  co_await reader.Close();

  // A wrong password: the connection attempt fails, commands get kUnavailable saying why.
  Result<std::unique_ptr<RedisConn>> bad = co_await RedisConn::Connect(
      Url("redis://rf-test:Xyzzy-42@" + hostport), {}, nullptr, Deadline::After(kWait));
  CO_REQUIRE(!bad.has_value());
  CHECK(bad.error().code == Errc::kUnavailable);
  CHECK(bad.error().context.find("AUTH as user 'rf-test' refused: WRONGPASS") != std::string::npos);
  CHECK(bad.error().context.find("Xyzzy") == std::string::npos);  // no password in messages
  RedisClient wrong(FastOptions("redis://rf-test:wrong@" + hostport));
  wrong.Start();
  Result<RedisReply> r = co_await wrong.Command(Deadline::After(kWait), "PING");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kUnavailable);
  CHECK(r.error().context.find("WRONGPASS") != std::string::npos);
  CHECK_FALSE(wrong.healthy());
  CHECK(wrong.stats().connect_failures.Get() >= 1);
  co_await wrong.Close();

  co_await Must(&admin, "ACL", "DELUSER", "rf-test", "rf-reader");
  co_await admin.Close();
}

Task<void> DeadlineBody(std::string url) {
  RedisClient c(FastOptions(url));
  c.Start();
  co_await Must(&c, "PING");
  // The server sleeps 600 ms: the PING behind the DEBUG SLEEP cannot be answered by 100 ms.
  struct Sleeper {
    static Task<void> Go(RedisClient* c, bool* ok) {
      Result<RedisReply> r = co_await c->Command(Deadline::After(kWait), "DEBUG", "SLEEP", "0.6");
      *ok = r.has_value() && r->IsStatus("OK");
      if (!r) FAIL_CHECK("DEBUG SLEEP: " << r.error().ToString());
    }
  };
  bool slept = false;
  reactor::TaskGroup group;
  reactor::Spawn(Sleeper::Go(&c, &slept), &group);
  co_await reactor::Yield{};
  const Nanos start = MonoNow();
  Result<RedisReply> r = co_await c.Command(Deadline::After(100 * kMillis), "PING");
  const double ms = MillisSince(start);
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kTimeout);
  CHECK(r.error().context == "redis PING: no reply by the deadline");
  CHECK(ms >= 95);
  CHECK(ms < 500);  // at its deadline, not when the server woke up
  auto all = group.Wait();
  co_await all;
  CHECK(slept);
  // The late PONG was read and dropped: the next command gets its own reply.
  RedisReply echo = co_await Must(&c, "ECHO", "after");
  CHECK(echo.str == "after");
  CHECK(c.stats().timeouts.Get() == 1);
  CHECK(c.stats().connects.Get() == 1);  // the connection stayed
  // A deadline already past fails before anything is sent.
  r = co_await c.Command(Deadline::After(0), "PING");
  CHECK((!r.has_value() && r.error().code == Errc::kTimeout));
  co_await c.Close();
}

Task<void> StallBody(std::string url) {
  RedisClient::Options o = FastOptions(url);
  o.conn.stall_timeout = 200 * kMillis;
  RedisClient c(o);
  c.Start();
  co_await Must(&c, "PING");
  struct Sleeper {
    static Task<void> Go(RedisClient* c, Result<RedisReply>* out) {
      *out = co_await c->Command(Deadline::After(kWait), "DEBUG", "SLEEP", "1");
    }
  };
  Result<RedisReply> slept = Error{Errc::kInternal, "not run"};
  reactor::TaskGroup group;
  reactor::Spawn(Sleeper::Go(&c, &slept), &group);
  co_await reactor::Yield{};
  // Silent for 300 ms > stall_timeout when this deadline passes: the connection is dropped,
  // and the DEBUG SLEEP still in flight fails with kUnavailable, well before its own deadline.
  Result<RedisReply> r = co_await c.Command(Deadline::After(300 * kMillis), "PING");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kTimeout);
  auto all = group.Wait();
  co_await all;
  CO_REQUIRE(!slept.has_value());
  CHECK(slept.error().code == Errc::kUnavailable);
  CHECK(slept.error().context.find("stalled") != std::string::npos);
  // The client reconnects (its handshake waits for the server to wake up) and carries on.
  if (!co_await WaitHealthy(&c, kWait)) co_return;
  RedisReply pong = co_await Must(&c, "PING");
  CHECK(pong.IsStatus("PONG"));
  CHECK(c.stats().disconnects.Get() == 1);
  CHECK(c.stats().reconnects.Get() == 1);
  co_await c.Close();
}

Task<void> RestartBody(std::string) {
  RedisServer server;  // private: this case kills it
  if (!server.ok()) {
    FAIL_CHECK("no Redis: " << server.error());
    co_return;
  }
  RedisClient c(FastOptions(server.url()));
  c.Start();
  co_await Must(&c, "SET", "restart:k", "v");
  // A command in flight when the server dies: BLPOP waits server-side until then.
  struct Blocked {
    static Task<void> Go(RedisClient* c, Result<RedisReply>* out) {
      *out = co_await c->Command(Deadline::After(kWait), "BLPOP", "restart:never", "0");
    }
  };
  Result<RedisReply> blocked = Error{Errc::kInternal, "not run"};
  reactor::TaskGroup group;
  reactor::Spawn(Blocked::Go(&c, &blocked), &group);
  co_await reactor::Sleep(50 * kMillis);
  const Nanos killed = MonoNow();
  Status st = co_await Script(&server, "kill");  // SIGKILL
  CO_REQUIRE(st.has_value());
  auto all = group.Wait();
  co_await all;
  CO_REQUIRE(!blocked.has_value());
  CHECK(blocked.error().code == Errc::kUnavailable);
  MESSAGE("in-flight command failed " << MillisSince(killed)
                                      << " ms after the kill: " << blocked.error().context);
  // While the server is down commands fail at once (the client is backing off).
  co_await reactor::Sleep(100 * kMillis);
  const Nanos asked = MonoNow();
  Result<RedisReply> down = co_await c.Command(Deadline::After(kWait), "PING");
  CO_REQUIRE(!down.has_value());
  CHECK(down.error().code == Errc::kUnavailable);
  CHECK(down.error().context.find("refused") != std::string::npos);
  CHECK(MillisSince(asked) < 1000);
  CHECK_FALSE(c.healthy());

  st = co_await Script(&server, "start");  // same port, empty (no persistence)
  CO_REQUIRE(st.has_value());
  if (!co_await WaitHealthy(&c, kWait)) co_return;
  RedisReply gone = co_await Must(&c, "GET", "restart:k");
  CHECK(gone.is_nil());
  RedisReply pong = co_await Must(&c, "PING");
  CHECK(pong.IsStatus("PONG"));
  CHECK(c.stats().disconnects.Get() == 1);
  CHECK(c.stats().reconnects.Get() == 1);
  CHECK(c.stats().connect_failures.Get() >= 1);
  CHECK(c.stats().connected.Get() == 1);
  co_await c.Close();
  CHECK(c.stats().connected.Get() == 0);
}

Task<void> RefusedBody(std::string) {
  const uint16_t port = test::UnusedPort();
  RedisClient c(FastOptions("redis://127.0.0.1:" + std::to_string(port)));
  Result<RedisReply> early = co_await c.Command(Deadline::After(kWait), "PING");
  CHECK((!early.has_value() && early.error().context == "redis PING: the client is not started"));
  c.Start();
  const Nanos start = MonoNow();
  Result<RedisReply> r = co_await c.Command(Deadline::After(kWait), "PING");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kUnavailable);
  CHECK(r.error().context.find("connect to 127.0.0.1:" + std::to_string(port) +
                               ": Connection refused") != std::string::npos);
  CHECK(MillisSince(start) < 1000);
  CHECK_FALSE(c.healthy());
  CHECK(c.last_error().find("refused") != std::string::npos);
  CHECK(c.stats().connect_failures.Get() >= 1);
  CHECK(c.stats().unavailable.Get() == 2);
  co_await c.Close();
  r = co_await c.Command(Deadline::After(kWait), "PING");
  CHECK((!r.has_value() && r.error().code == Errc::kUnavailable));
}

Task<void> ConnectTimeoutBody(std::string) {
  test::SilentListener silent;  // accepts TCP, never answers the handshake's PING
  const Nanos start = MonoNow();
  Result<std::unique_ptr<RedisConn>> conn =
      co_await RedisConn::Connect(Url("redis://127.0.0.1:" + std::to_string(silent.port())), {},
                                  nullptr, Deadline::After(200 * kMillis));
  CO_REQUIRE(!conn.has_value());
  CHECK(conn.error().code == Errc::kTimeout);
  CHECK(MillisSince(start) >= 195);
  CHECK(MillisSince(start) < 1000);
  // The client's attempt is bounded by connect_timeout; the command by its own deadline.
  RedisClient::Options o = FastOptions("redis://127.0.0.1:" + std::to_string(silent.port()));
  o.connect_timeout = 300 * kMillis;
  RedisClient c(o);
  c.Start();
  Result<RedisReply> r = co_await c.Command(Deadline::After(100 * kMillis), "PING");
  CO_REQUIRE(!r.has_value());
  CHECK(r.error().code == Errc::kTimeout);
  CHECK(r.error().context.find("no connection to redis by the deadline") != std::string::npos);
  // Close ends the attempt in progress at once.
  const Nanos closing = MonoNow();
  co_await c.Close();
  CHECK(MillisSince(closing) < 100);
}

}  // namespace

TEST_SUITE("store.redis_client") {
  TEST_CASE("a command round trip returns each reply type" * doctest::timeout(30)) {
    Run(&RoundTripBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("arguments and replies are binary-safe, large values included" * doctest::timeout(30)) {
    Run(&BinaryBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("1000 pipelined commands are in flight at once and answered in order" *
            doctest::timeout(30)) {
    Run(&PipelineBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("error replies map to Errc and the connection carries on" * doctest::timeout(30)) {
    Run(&ErrorsBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("AUTH as an ACL user and SELECT work; a wrong password is refused" *
            doctest::timeout(30)) {
    Run(&AuthBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("a command past its deadline fails with kTimeout and its late reply is dropped" *
            doctest::timeout(30)) {
    Run(&DeadlineBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("a connection silent past stall_timeout is dropped, its commands fail, it reconnects" *
            doctest::timeout(30)) {
    Run(&StallBody, RequireServer(RedisServer::Shared()).url());
  }

  TEST_CASE("a killed and restarted server: in-flight commands fail, the client reconnects" *
            doctest::timeout(60)) {
    Run(&RestartBody, "");
  }

  TEST_CASE("a refused connection fails commands at once with kUnavailable" *
            doctest::timeout(30)) {
    Run(&RefusedBody, "");
  }

  TEST_CASE("connecting to a server that never answers ends at the deadline" *
            doctest::timeout(30)) {
    Run(&ConnectTimeoutBody, "");
  }

}  // TEST_SUITE
}  // namespace rf::store::redis

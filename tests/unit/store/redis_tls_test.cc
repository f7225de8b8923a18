// rediss://: RedisConn and RedisClient over TLS (tls/tls_session.h on the shard's io_uring)
// against a redis-server with a TLS port, its certificate signed by a CA these tests make with
// `openssl` (IP 127.0.0.1 only). Without redis-server or openssl every case fails and says why.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "reactor/offload.h"
#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/redis/redis_client.h"
#include "store/redis/redis_conn.h"
#include "store/redis_server.h"
#include "test_support.h"
#include "tls/tls_client.h"

namespace rf::store::redis {
namespace {

using reactor::Reactor;
using reactor::Task;
using test::RedisServer;

constexpr Nanos kWait = 10 * kSeconds;

// A CA (ca.crt), a server certificate it signed for IP 127.0.0.1 (server.crt/.key) and an
// unrelated CA (other.crt), in a temp dir removed at exit.
class TestCa {
 public:
  static TestCa& Get() {
    static TestCa ca;
    return ca;
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string File(const char* name) const { return dir_ + "/" + name; }
  // The environment for tools/redis.sh to serve TLS with server.crt.
  std::string RedisEnv() const {
    return "REDIS_TLS_CERT='" + File("server.crt") + "' REDIS_TLS_KEY='" + File("server.key") + "'";
  }

 private:
  TestCa() {
    char tmpl[] = "/tmp/rf-tls-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    const std::string cmd =
        "cd '" + dir_ + "' && { " +
        "openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca && " +
        "openssl req -x509" + ec + " -keyout other.key -out other.crt -days 2 -subj /CN=other && " +
        "openssl req" + ec + " -keyout server.key -out server.csr -subj /CN=redis && " +
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext && " +
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial " +
        "-out server.crt -days 2 -extfile server.ext; } >openssl.log 2>&1";
    if (std::system(cmd.c_str()) != 0) error_ = "openssl failed: " + test::ReadFile(dir_ + "/openssl.log");
  }
  ~TestCa() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_, error_;
};

struct Fixture {
  Fixture() : ca(TestCa::Get()) {
    REQUIRE_MESSAGE(ca.ok(), ca.error());
    server = std::make_unique<RedisServer>(ca.RedisEnv());
    REQUIRE_MESSAGE(server->ok(), server->error());
    REQUIRE_MESSAGE(!server->tls_url().empty(), "tools/redis.sh started no TLS port");
    auto trusted = tls::TlsClientContext::Load(ca.File("ca.crt"));
    REQUIRE_MESSAGE(trusted.has_value(), trusted.error().ToString());
    good = std::move(*trusted);
    auto other = tls::TlsClientContext::Load(ca.File("other.crt"));
    REQUIRE(other.has_value());
    wrong = std::move(*other);
  }
  TestCa& ca;
  std::unique_ptr<RedisServer> server;  // private: a case restarts it
  std::unique_ptr<tls::TlsClientContext> good, wrong;
};
Fixture* g = nullptr;

RedisUrl Url(const std::string& text) {
  Result<RedisUrl> u = ParseRedisUrl(text);
  REQUIRE_MESSAGE(u.has_value(), text);
  return *u;
}

RedisClient::Options TlsOptions(const std::string& url, const tls::TlsClientContext* ctx) {
  RedisClient::Options o;
  o.url = Url(url);
  o.connect_timeout = 2 * kSeconds;
  o.backoff_min = 20 * kMillis;
  o.backoff_max = 200 * kMillis;
  o.conn.tls = ctx;
  return o;
}

void Run(Task<void> (*body)()) {
  test::RunOnReactor(1, [body](Reactor&) { return body(); });
}

Task<void> PipelinedIncr(RedisClient* c, int i, std::vector<int64_t>* got, int* done) {
  Result<RedisReply> n = co_await c->Command(Deadline::After(kWait), "INCR", "tls:seq");
  (*got)[i] = n ? n->integer : -1;
  ++*done;
}

Task<void> TrafficBody() {
  RedisClient c(TlsOptions(g->server->tls_url(), g->good.get()));
  c.Start();
  std::string big(3 << 20, 'x');  // a few hundred TLS records each way
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>(i & 0xff);
  Result<RedisReply> set = co_await c.Command(Deadline::After(kWait), "SET", "tls:big", big);
  CO_REQUIRE_MESSAGE(set.has_value(), set.error().ToString());
  Result<RedisReply> back = co_await c.Command(Deadline::After(kWait), "GET", "tls:big");
  CO_REQUIRE(back.has_value());
  CHECK(back->str == big);
  co_await c.Command(Deadline::After(kWait), "DEL", "tls:seq");
  constexpr int kN = 1000;
  std::vector<int64_t> got(kN, 0);
  int done = 0;
  for (int i = 0; i < kN; ++i) reactor::Spawn(PipelinedIncr(&c, i, &got, &done));
  const Nanos start = MonoNow();
  while (done < kN && MonoNow() - start < kWait) co_await reactor::Sleep(kMillis);
  CO_REQUIRE(done == kN);
  int in_order = 0;
  for (int i = 0; i < kN; ++i) in_order += got[i] == i + 1 ? 1 : 0;
  CHECK(in_order == kN);
  CHECK(c.stats().connects.Get() == 1);
  co_await c.Close();
}

Task<void> RestartBody() {
  RedisClient c(TlsOptions(g->server->tls_url(), g->good.get()));
  c.Start();
  Result<RedisReply> ok = co_await c.Command(Deadline::After(kWait), "SET", "tls:k", "v");
  CO_REQUIRE_MESSAGE(ok.has_value(), ok.error().ToString());
  auto kill = reactor::Offload([] { return g->server->Run("kill"); });
  Status killed = co_await kill;  // suspends
  CO_REQUIRE(killed.has_value());
  auto start = reactor::Offload([] { return g->server->Run("start"); });  // same ports and env
  Status started = co_await start;  // suspends
  CO_REQUIRE(started.has_value());
  const Nanos until = MonoNow() + kWait;
  Result<RedisReply> pong = Error{Errc::kUnavailable, "not asked"};
  while (MonoNow() < until) {
    pong = co_await c.Command(Deadline::After(kWait), "PING");
    if (pong) break;
    co_await reactor::Sleep(20 * kMillis);
  }
  CO_REQUIRE_MESSAGE(pong.has_value(), pong.error().ToString());
  CHECK(pong->IsStatus("PONG"));
  CHECK(c.stats().reconnects.Get() == 1);
  co_await c.Close();
}

Task<void> VerifyBody() {
  const RedisUrl url = Url(g->server->tls_url());
  auto conn = co_await RedisConn::Connect(url, {.tls = g->good.get()}, nullptr,
                                          Deadline::After(kWait));
  CO_REQUIRE_MESSAGE(conn.has_value(), conn.error().ToString());
  CHECK((*conn)->tls_protocol().starts_with("TLSv1."));
  co_await (*conn)->Close();

  auto wrong = co_await RedisConn::Connect(url, {.tls = g->wrong.get()}, nullptr,
                                           Deadline::After(kWait));
  CO_REQUIRE(!wrong.has_value());
  CHECK(wrong.error().code == Errc::kUnavailable);
  CHECK(wrong.error().context.find("TLS handshake: certificate verify failed: unable to get "
                                   "local issuer certificate") != std::string::npos);

  // The certificate names 127.0.0.1 only.
  RedisUrl named = url;
  named.host = "localhost";
  auto mismatch = co_await RedisConn::Connect(named, {.tls = g->good.get()}, nullptr,
                                              Deadline::After(kWait));
  CO_REQUIRE(!mismatch.has_value());
  CHECK(mismatch.error().context.find("certificate verify failed: hostname mismatch") !=
        std::string::npos);

  auto no_ctx = co_await RedisConn::Connect(url, {}, nullptr, Deadline::After(kWait));
  CO_REQUIRE(!no_ctx.has_value());
  CHECK(no_ctx.error().code == Errc::kInvalidArgument);

  // A TLS client on the plain port: the server never answers its hello; the deadline says so.
  RedisUrl plain = Url(g->server->url());
  plain.tls = true;
  auto hung = co_await RedisConn::Connect(plain, {.tls = g->good.get()}, nullptr,
                                          Deadline::After(300 * kMillis));
  CO_REQUIRE(!hung.has_value());
  CHECK(hung.error().code == Errc::kTimeout);
  CHECK(hung.error().context.find("is the port a TLS port?") != std::string::npos);
}

}  // namespace

TEST_SUITE("store.redis_tls") {
  TEST_CASE("over rediss:// a 3 MiB value and 1000 pipelined commands go through in order" *
            doctest::timeout(60)) {
    Fixture f;
    g = &f;
    Run(&TrafficBody);
  }

  TEST_CASE("a rediss:// client reconnects, handshake included, after the server restarts" *
            doctest::timeout(60)) {
    Fixture f;
    g = &f;
    Run(&RestartBody);
  }

  TEST_CASE("the server's certificate must chain to the CA and name the host" *
            doctest::timeout(60)) {
    Fixture f;
    g = &f;
    Run(&VerifyBody);
  }
}

}  // namespace rf::store::redis

#include <doctest/doctest.h>

#include <vector>

#include "app/config.h"

using rf::app::LoadConfig;

namespace {

rf::Result<rf::app::Config> Load(std::vector<const char*> args, std::vector<const char*> env = {}) {
  args.insert(args.begin(), "ringflow");
  env.push_back(nullptr);
  return LoadConfig(static_cast<int>(args.size()), const_cast<char**>(args.data()),
                    const_cast<char**>(env.data()));
}

}  // namespace

TEST_SUITE("app.config") {
TEST_CASE("sizes accept units") {
  CHECK(*rf::app::ParseSize("64KiB") == 65536);
  CHECK(*rf::app::ParseSize("1MiB") == 1048576);
  CHECK_FALSE(rf::app::ParseSize("1XB").has_value());
}

TEST_CASE("duration settings use the one grammar: a bare number is seconds") {
  auto c = Load({"--idle-timeout", "10", "--header-timeout=1500ms", "--body-timeout=2m"},
                {"RINGFLOW_DRAIN_TIMEOUT=3"});
  REQUIRE(c.has_value());
  CHECK(c->idle_timeout == 10 * rf::kSeconds);
  CHECK(c->header_timeout == 1500 * rf::kMillis);
  CHECK(c->body_timeout == 120 * rf::kSeconds);
  CHECK(c->drain_timeout == 3 * rf::kSeconds);
  auto bad = Load({"--idle-timeout=10parsecs"});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().context.find("idle-timeout") != std::string::npos);
}

TEST_CASE("--history-read-age is a duration from 0 to a day, 60s by default") {
  auto c = Load({});
  REQUIRE(c.has_value());
  CHECK(c->history_read_age == 60 * rf::kSeconds);
  auto zero = Load({"--history-read-age", "0"});
  REQUIRE(zero.has_value());
  CHECK(zero->history_read_age == 0);
  for (const char* bad : {"soon", "-1s", "25h"}) {
    auto r = Load({"--history-read-age", bad});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().context.find("history-read-age") != std::string::npos);
  }
}

TEST_CASE("flags beat env which beats defaults, and the source is recorded") {
  auto c = Load({"--max-body=2MiB"}, {"RINGFLOW_MAX_BODY=4MiB", "RINGFLOW_LISTEN=127.0.0.1:9999"});
  REQUIRE(c.has_value());
  CHECK(c->max_body == 2u << 20);
  CHECK(c->listen_port == 9999);
  bool saw_env = false;
  for (auto& s : c->effective)
    if (s.key == "listen") saw_env = s.origin == "env:RINGFLOW_LISTEN";
  CHECK(saw_env);
}

TEST_CASE("an invalid value names its key") {
  auto c = Load({"--header-timeout", "soon"});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().context.find("header-timeout") != std::string::npos);
  auto d = Load({}, {"RINGFLOW_SHARDS=-1"});
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().context.find("shards") != std::string::npos);
  CHECK(d.error().context.find("env:RINGFLOW_SHARDS") != std::string::npos);
}

TEST_CASE("unknown flags and commands are rejected") {
  CHECK_FALSE(Load({"--no-such-flag=1"}).has_value());
  CHECK_FALSE(Load({"launch"}).has_value());
  CHECK_FALSE(Load({"--listen", "nohost"}).has_value());
  CHECK_FALSE(Load({"--listen=1.2.3.4:99999"}).has_value());
}

TEST_CASE("--advertise defaults to the --listen address, or hostname:port on a wildcard") {
  using rf::app::DefaultAdvertise;
  CHECK(DefaultAdvertise("127.0.0.1", 8080, "h1") == "127.0.0.1:8080");
  CHECK(DefaultAdvertise("[::1]", 8080, "h1") == "[::1]:8080");
  CHECK(DefaultAdvertise("0.0.0.0", 8080, "h1") == "h1:8080");
  CHECK(DefaultAdvertise("[::]", 9000, "h1") == "h1:9000");
  CHECK(DefaultAdvertise("10.0.0.5", 0, "h1").empty());  // port 0: not advertised

  auto c = Load({"--listen", "10.1.2.3:7000"});
  REQUIRE(c.has_value());
  CHECK(c->advertise == "10.1.2.3:7000");
  CHECK_FALSE(c->advertise_given);
  auto given = Load({"--listen", "0.0.0.0:7000"}, {"RINGFLOW_ADVERTISE=node-a.internal:7000"});
  REQUIRE(given.has_value());
  CHECK(given->advertise == "node-a.internal:7000");
  CHECK(given->advertise_given);
}

TEST_CASE("a bad --advertise names its key and what is wrong") {
  for (const char* bad : {"nohost", ":8080", "host:", "host:0", "host:70000", "http://host:80",
                          "host:80/path", "user@host:80", "ho st:80"}) {
    auto c = Load({"--advertise", bad});
    REQUIRE_FALSE(c.has_value());
    CHECK_MESSAGE(c.error().context.find("advertise") != std::string::npos, bad, " ",
                  c.error().context);
  }
}

TEST_CASE("the egress policy defaults to deny-private with an empty allowlist") {
  auto c = Load({});
  REQUIRE(c.has_value());
  CHECK(c->egress_mode == rf::http::client::EgressMode::kDenyPrivate);
  CHECK(c->egress_allow.empty());
}

TEST_CASE("the egress allowlist comes from the flag, the env mirror or the config file") {
  auto c = Load({"--egress-allow", "127.0.0.1, localhost,*.internal.example.com"});
  REQUIRE(c.has_value());
  CHECK(c->egress_allow == "127.0.0.1, localhost,*.internal.example.com");
  auto e = Load({}, {"RINGFLOW_EGRESS_ALLOW=10.0.0.0/8", "RINGFLOW_EGRESS_POLICY=allow-all"});
  REQUIRE(e.has_value());
  CHECK(e->egress_allow == "10.0.0.0/8");
  CHECK(e->egress_mode == rf::http::client::EgressMode::kAllowAll);
  CHECK(e->warnings.size() == 1);  // the allowlist means nothing under allow-all
}

TEST_CASE("a bad egress value is refused, naming the key, the entry and the reason") {
  auto c = Load({"--egress-allow=127.0.0.1:8080"});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().context.find("egress-allow") != std::string::npos);
  CHECK(c.error().context.find("port") != std::string::npos);
  auto d = Load({}, {"RINGFLOW_EGRESS_ALLOW=10.1.2.3/8"});
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().context.find("did you mean 10.0.0.0/8?") != std::string::npos);
  CHECK(d.error().context.find("env:RINGFLOW_EGRESS_ALLOW") != std::string::npos);
  auto e = Load({"--egress-policy", "allow-private"});
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().context.find("deny-private or allow-all") != std::string::npos);
}

TEST_CASE("shards default to the CPUs and wrap around when more are asked for") {
  auto c = Load({"--shards=5", "--cpus=0"});
  REQUIRE(c.has_value());
  CHECK(c->shards == 5);
  CHECK(c->cpus == std::vector<int>{0, 0, 0, 0, 0});
}
TEST_CASE("an unknown RINGFLOW_ variable is a warning, not an error") {
  auto c = Load({}, {"RINGFLOW_LISTNE=127.0.0.1:1", "OTHER_VAR=1"});
  REQUIRE(c.has_value());
  REQUIRE(c->warnings.size() == 1);
  CHECK(c->warnings[0].find("RINGFLOW_LISTNE") != std::string::npos);
}

TEST_CASE("redis-url: flag over RINGFLOW_REDIS_URL over REDIS_URL, validated, shown redacted") {
  auto c = Load({"config"});
  REQUIRE(c.has_value());
  CHECK(c->redis_url.empty());
  c = Load({"config"}, {"REDIS_URL=redis://:pw@10.0.0.5:6380/2"});
  REQUIRE(c.has_value());
  CHECK(c->redis_url == "redis://:pw@10.0.0.5:6380/2");
  c = Load({"config"}, {"REDIS_URL=redis://a", "RINGFLOW_REDIS_URL=redis://b"});
  REQUIRE(c.has_value());
  CHECK(c->redis_url == "redis://b");
  c = Load({"config", "--redis-url", "redis://user:secret@c:1/3"}, {"RINGFLOW_REDIS_URL=redis://b"});
  REQUIRE(c.has_value());
  CHECK(c->redis_url == "redis://user:secret@c:1/3");
  bool shown = false;
  for (const auto& s : c->effective) {
    if (s.key != "redis-url") continue;
    shown = true;
    CHECK(s.value == "redis://***@c:1/3");
    CHECK(s.origin == "flag");
  }
  CHECK(shown);
}

TEST_CASE("a malformed redis-url names the key, the problem and never the password") {
  auto c = Load({"serve", "--redis-url=redis://user:hunter2@h:70000"});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().context ==
        "invalid value 'redis://***@h:70000' for redis-url: port '70000' must be a number "
        "1-65535 (from flag)");
  c = Load({"serve"}, {"REDIS_URL=localhost:6379"});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().context.find("expected redis://") != std::string::npos);
  CHECK(c.error().context.find("env:REDIS_URL") != std::string::npos);
}
}

TEST_SUITE("app.config") {
TEST_CASE("--auth auto is on unless --listen is a loopback address") {
  using rf::app::AuthDefaultOn;
  CHECK_FALSE(AuthDefaultOn("127.0.0.1"));
  CHECK_FALSE(AuthDefaultOn("127.0.0.2"));
  CHECK_FALSE(AuthDefaultOn("127.255.255.254"));
  CHECK_FALSE(AuthDefaultOn("[::1]"));
  CHECK_FALSE(AuthDefaultOn("::1"));
  CHECK_FALSE(AuthDefaultOn("[::ffff:127.0.0.1]"));
  CHECK(AuthDefaultOn("0.0.0.0"));
  CHECK(AuthDefaultOn("[::]"));
  CHECK(AuthDefaultOn("10.1.2.3"));
  CHECK(AuthDefaultOn("128.0.0.1"));
  CHECK(AuthDefaultOn("[::ffff:10.0.0.1]"));
  CHECK(AuthDefaultOn("localhost"));  // not an address: never assumed loopback
}

TEST_CASE("--auth and --json-mutations resolve from --listen unless given, and bad values name the key") {
  auto lo = Load({"--listen", "127.0.0.1:8080"});
  REQUIRE(lo.has_value());
  CHECK_FALSE(lo->auth);
  CHECK_FALSE(lo->json_mutations);
  auto any = Load({"--listen", "0.0.0.0:8080"});
  REQUIRE(any.has_value());
  CHECK(any->auth);
  CHECK(any->json_mutations);
  auto off = Load({"--listen", "0.0.0.0:8080", "--auth", "off", "--json-mutations", "on"});
  REQUIRE(off.has_value());
  CHECK_FALSE(off->auth);
  CHECK(off->json_mutations);
  auto bad = Load({"--auth", "maybe"});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().context.find("auth") != std::string::npos);
  auto hosts = Load({"--allowed-hosts", "a.example, b.example"});
  REQUIRE(hosts.has_value());
  CHECK(hosts->allowed_hosts == std::vector<std::string>{"a.example", "b.example"});
  CHECK_FALSE(Load({"--allowed-hosts", "a,,b"}).has_value());
  CHECK_FALSE(Load({"--allowed-hosts", "http://a"}).has_value());
  auto key = Load({}, {"RINGFLOW_ADMIN_KEY=0123456789abcdef"});
  REQUIRE(key.has_value());
  CHECK(key->admin_key == "0123456789abcdef");
  for (const auto& e : key->effective)
    if (e.key == "admin-key") CHECK(e.value == "***");
}
}

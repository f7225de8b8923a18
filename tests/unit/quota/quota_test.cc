#include "quota/quota.h"

#include <doctest/doctest.h>

#include "engine/namespace_usage.h"
#include "quota/limiter.h"

namespace rf::quota {

TEST_CASE("quotas file: defaults, namespaces inherit what they leave out") {
  auto c = ParseConfig(R"({"default": {"requests_per_second": 100, "live_runs": 50},
                           "namespaces": {"team-a": {"requests_per_second": 5, "burst_seconds": 2}}})");
  REQUIRE(c);
  CHECK(c->any());
  CHECK(c->For("other").requests_per_second == 100);
  CHECK(c->For("team-a").requests_per_second == 5);
  CHECK(c->For("team-a").burst_seconds == 2);
  CHECK(c->For("team-a").live_runs == 50);  // from default
  CHECK(c->For("team-a").starts_per_second == 0);
  auto empty = ParseConfig("{}");
  REQUIRE(empty);
  CHECK_FALSE(empty->any());
}

TEST_CASE("quotas file: every mistake is named by its JSON pointer") {
  auto err = [](const char* text) {
    auto c = ParseConfig(text);
    REQUIRE_FALSE(c);
    return c.error().context;
  };
  CHECK(err("[]").find("must be an object") != std::string::npos);
  CHECK(err("not json").find("not JSON") != std::string::npos);
  CHECK(err(R"({"defaults": {}})").find("/defaults: unknown field") == 0);
  CHECK(err(R"({"default": {"requests_per_second": -1}})").find("/default/requests_per_second") == 0);
  CHECK(err(R"({"default": {"requests_per_second": "10"}})").find("/default/requests_per_second") == 0);
  CHECK(err(R"({"default": {"live_runs": 1.5}})").find("/default/live_runs") == 0);
  CHECK(err(R"({"default": {"burst_seconds": 0}})").find("/default/burst_seconds") == 0);
  CHECK(err(R"({"default": {"rps": 1}})").find("/default/rps: unknown limit") == 0);
  CHECK(err(R"({"namespaces": {"Team_A": {}}})").find("/namespaces/Team_A") == 0);
  CHECK(err(R"({"namespaces": {"a": 3}})").find("/namespaces/a") == 0);
  CHECK(err(R"({"namespaces": []})").find("/namespaces") == 0);
  CHECK(err(R"({"default": {"egress_allow": "10.0.0.1"}})").find("/default/egress_allow: only a namespace") == 0);
  CHECK(err(R"({"namespaces": {"a": {"egress_allow": ["10.0.0.1", ""]}}})").find("/namespaces/a/egress_allow/1") == 0);
  CHECK(err(R"({"namespaces": {"a": {"egress_allow": ["a,b"]}}})").find("/namespaces/a/egress_allow/0") == 0);
  CHECK(err(R"({"namespaces": {"a": {"egress_allow": 7}}})").find("/namespaces/a/egress_allow") == 0);
}

TEST_CASE("quotas file: a namespace's egress allowlist, as an array or one string") {
  auto c = ParseConfig(R"({"namespaces": {"a": {"egress_allow": ["10.0.0.0/8", "*.svc"]},
                                           "b": {"egress_allow": "127.0.0.1, localhost"},
                                           "c": {"live_runs": 3}}})");
  REQUIRE(c);
  CHECK(c->For("a").egress_allow == "10.0.0.0/8,*.svc");
  CHECK(c->For("b").egress_allow == "127.0.0.1, localhost");
  CHECK(c->For("c").egress_allow.empty());
  CHECK(c->For("other").egress_allow.empty());
}

TEST_CASE("token bucket: a burst, then the rate, and the wait until the next token") {
  TokenBucket b;
  Nanos wait = 0;
  const Nanos t0 = 1'000 * kSeconds;
  for (int i = 0; i < 10; ++i) CHECK(b.Take(10, 10, t0, wait));  // full: a second's worth
  CHECK_FALSE(b.Take(10, 10, t0, wait));
  CHECK(wait > 0);
  CHECK(wait <= 100 * kMillis + 1);
  CHECK(b.Take(10, 10, t0 + 100 * kMillis, wait));  // one token back after 1/rate
  CHECK_FALSE(b.Take(10, 10, t0 + 100 * kMillis, wait));
  CHECK_FALSE(b.Idle(10, 10, t0 + 500 * kMillis));
  CHECK(b.Idle(10, 10, t0 + 2 * kSeconds));
}

TEST_CASE("limiter: per namespace, split over shards and instances, unlimited without a rate") {
  auto c = ParseConfig(R"({"namespaces": {"slow": {"requests_per_second": 4}}})");
  REQUIRE(c);
  Limiter l;
  l.SetConfig(std::make_shared<const Config>(*c));
  l.SetShare(2);  // 2 shards: this one admits 2 a second
  Nanos wait = 0;
  const Nanos t0 = 5 * kSeconds;
  CHECK(l.Admit(Kind::kRequests, "slow", t0, wait));
  CHECK(l.Admit(Kind::kRequests, "slow", t0, wait));
  CHECK_FALSE(l.Admit(Kind::kRequests, "slow", t0, wait));
  CHECK(wait > 0);
  for (int i = 0; i < 1000; ++i) CHECK(l.Admit(Kind::kRequests, "fast", t0, wait));
  CHECK(l.Admit(Kind::kStarts, "slow", t0, wait));  // no starts limit
  CHECK(l.buckets() == 1);  // only the limited namespace has a bucket
  Limiter tiny;  // a tiny share still admits one at a time (a bucket holds at least one token)
  tiny.SetConfig(std::make_shared<const Config>(*c));
  tiny.SetShare(1000);
  CHECK(tiny.Admit(Kind::kRequests, "slow", t0, wait));
  CHECK_FALSE(tiny.Admit(Kind::kRequests, "slow", t0, wait));
  CHECK(wait > 100 * kSeconds);  // 0.004 a second
}

TEST_CASE("limiter: a reload starts the buckets full under the new limits") {
  auto slow = ParseConfig(R"({"namespaces": {"r": {"starts_per_second": 1}}})");
  auto fast = ParseConfig(R"({"namespaces": {"r": {"starts_per_second": 1000}}})");
  REQUIRE(slow);
  REQUIRE(fast);
  Limiter l;
  l.SetConfig(std::make_shared<const Config>(*slow));
  Nanos wait = 0;
  const Nanos t0 = 7 * kSeconds;
  CHECK(l.Admit(Kind::kStarts, "r", t0, wait));
  CHECK_FALSE(l.Admit(Kind::kStarts, "r", t0, wait));
  l.SetConfig(std::make_shared<const Config>(*fast));
  for (int i = 0; i < 5; ++i) CHECK(l.Admit(Kind::kStarts, "r", t0, wait));
}

TEST_CASE("limiter: bounded; idle buckets make room, then an overflow bucket is shared") {
  auto c = ParseConfig(R"({"default": {"requests_per_second": 1}})");
  REQUIRE(c);
  Limiter l;
  l.SetConfig(std::make_shared<const Config>(*c));
  Nanos wait = 0;
  for (size_t i = 0; i < Limiter::kMaxNamespaces + 10; ++i)
    l.Admit(Kind::kRequests, "ns-" + std::to_string(i), kSeconds, wait);
  CHECK(l.buckets() == Limiter::kMaxNamespaces);
  // A minute later every bucket is full again: the next new namespace sweeps them out.
  CHECK(l.Admit(Kind::kRequests, "late", 61 * kSeconds, wait));
  CHECK(l.buckets() == 1);
}

TEST_CASE("quotas file: retained_history_bytes as an integer or with a K/M/G/T suffix, inherited") {
  auto c = ParseConfig(R"({"default": {"retained_history_bytes": "2G"},
                           "namespaces": {"a": {"retained_history_bytes": 4096}, "b": {"live_runs": 1},
                                          "c": {"retained_history_bytes": "512M"},
                                          "d": {"retained_history_bytes": "64K"},
                                          "e": {"retained_history_bytes": "1T"},
                                          "f": {"retained_history_bytes": 0}}})");
  REQUIRE(c);
  CHECK(c->any());
  CHECK(c->For("a").retained_history_bytes == 4096);
  CHECK(c->For("b").retained_history_bytes == int64_t{2} << 30);  // from default
  CHECK(c->For("c").retained_history_bytes == int64_t{512} << 20);
  CHECK(c->For("d").retained_history_bytes == 64 * 1024);
  CHECK(c->For("e").retained_history_bytes == int64_t{1} << 40);
  CHECK(c->For("f").retained_history_bytes == 0);  // no limit
  CHECK(c->For("other").retained_history_bytes == int64_t{2} << 30);
  auto only = ParseConfig(R"({"namespaces": {"x": {"retained_history_bytes": 1}}})");
  REQUIRE(only);
  CHECK(only->any());  // the only limit set makes the file count
  CHECK(c->caps_history());
  CHECK(only->caps_history());
  auto live = ParseConfig(R"({"default": {"live_runs": 5}, "namespaces": {"x": {"retained_history_bytes": 0}}})");
  REQUIRE(live);
  CHECK(live->any());
  CHECK_FALSE(live->caps_history());  // 0 is no limit
}

TEST_CASE("quotas file: a bad retained_history_bytes is named by its JSON pointer") {
  for (const char* v : {"-1", "1.5", "true", "\"\"", "\"K\"", "\"12X\"", "\"1k\"", "\"-3M\"",
                        "\"99999999999T\"", "\"1 M\"", "2305843009213693952"}) {
    const std::string text = std::string(R"({"namespaces": {"a": {"retained_history_bytes": )") + v + "}}}";
    auto c = ParseConfig(text);
    CAPTURE(text);
    REQUIRE_FALSE(c);
    CHECK(c.error().context.find("/namespaces/a/retained_history_bytes: must be a number of bytes") == 0);
  }
  auto d = ParseConfig(R"({"default": {"retained_history_bytes": "0x10"}})");
  REQUIRE_FALSE(d);
  CHECK(d.error().context.find("/default/retained_history_bytes") == 0);
}

}  // namespace rf::quota

namespace rf::engine {

TEST_CASE("namespace usage: counts per namespace, absent is zero, bounded") {
  auto u = std::make_unique<NamespaceUsage>();
  u->AddLive("a", 3);
  u->AddLive("b", 1);
  u->AddLive("a", -1);
  CHECK(u->Live("a") == 2);
  CHECK(u->Live("b") == 1);
  CHECK(u->Live("never") == 0);
  size_t seen = 0;
  u->ForEach([&](std::string_view, int64_t) { ++seen; });
  CHECK(seen == 2);
  for (size_t i = 0; i < NamespaceUsage::kSlots + 5; ++i) u->AddLive("n" + std::to_string(i), 1);
  CHECK(u->overflowed() > 0);
  CHECK(u->Live("a") == 2);
  u->AddLive(std::string(64, 'x'), 1);  // longer than a namespace name: not counted
  CHECK(u->Live(std::string(64, 'x')) == 0);
}

TEST_CASE("namespace usage: history bytes are set (not added), absent is zero, zero takes no slot") {
  auto u = std::make_unique<NamespaceUsage>();
  u->SetHistoryBytes("a", 100);
  u->SetHistoryBytes("a", 70);
  u->AddLive("a", 2);
  CHECK(u->HistoryBytes("a") == 70);
  CHECK(u->Live("a") == 2);  // the two counts of a namespace are apart
  CHECK(u->HistoryBytes("never") == 0);
  u->SetHistoryBytes("empty", 0);
  size_t seen = 0;
  u->ForEach([&](std::string_view, int64_t) { ++seen; });
  CHECK(seen == 1);  // "empty" took no slot
  u->SetHistoryBytes("a", 0);
  CHECK(u->HistoryBytes("a") == 0);
}

}  // namespace rf::engine

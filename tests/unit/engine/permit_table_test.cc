// Step-level concurrency limits: the home shard's permit table (FIFO per key, keys independent,
// bounded waiters, cancel), the ids and homes every shard computes alike, the busiest-keys
// publication /metrics reads, and the http step's "concurrency" grammar.

#include "engine/permit_table.h"

#include <doctest/doctest.h>

#include "engine/definition.h"
#include "compile_helpers.h"

using namespace rf::engine;
using rf::engine::test::HasError;

namespace {

PermitWaiter W(unsigned shard, uint64_t ticket) { return PermitWaiter{shard, ticket}; }

std::string StepDoc(std::string_view concurrency, std::string_view type = "http") {
  std::string extra = type == "http" ? R"(, "request": {"url": "http://x/"})" : "";
  return R"({"name": "w", "steps": [{"id": "a", "type": "noop"}, {"id": "b", "type": ")" +
         std::string(type) + R"(", "depends_on": ["a"])" + extra + R"(, "concurrency": )" +
         std::string(concurrency) + "}]}";
}

Compiled C(std::string_view concurrency, std::string_view type = "http") {
  return CompileDefinition("", StepDoc(concurrency, type), 1);
}

}  // namespace

TEST_SUITE("engine.permit_table") {
TEST_CASE("at most limit permits per id; the waiters get them in order as permits end") {
  PermitTable t;
  CHECK(t.Acquire("s\nk", 2, W(0, 1)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\nk", 2, W(1, 2)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\nk", 2, W(0, 3)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nk", 2, W(1, 4)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nk", 2, W(0, 5)) == PermitTable::Outcome::kQueued);
  CHECK(t.in_use() == 2);
  CHECK(t.waiting() == 3);
  std::vector<PermitWaiter> granted;
  t.Release("s\nk", granted);
  REQUIRE(granted.size() == 1);
  CHECK(granted[0] == W(0, 3));
  t.Release("s\nk", granted);
  REQUIRE(granted.size() == 2);
  CHECK(granted[1] == W(1, 4));
  CHECK(t.in_use() == 2);
  t.Release("s\nk", granted);
  t.Release("s\nk", granted);
  t.Release("s\nk", granted);
  CHECK(granted.size() == 3);
  CHECK(t.in_use() == 0);
  CHECK(t.waiting() == 0);
  CHECK(t.ids() == 0);  // nothing held, nobody waits: the id is dropped
}

TEST_CASE("a full key does not hold back another key") {
  PermitTable t;
  CHECK(t.Acquire("s\nbusy", 1, W(0, 1)) == PermitTable::Outcome::kGranted);
  for (uint64_t i = 2; i < 50; ++i) CHECK(t.Acquire("s\nbusy", 1, W(0, i)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nquiet", 1, W(1, 100)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("other\nbusy", 1, W(1, 101)) == PermitTable::Outcome::kGranted);  // scopes differ
  CHECK(t.ids() == 3);
}

TEST_CASE("a cancelled waiter loses its place; a granted one cannot be cancelled") {
  PermitTable t;
  CHECK(t.Acquire("s\nk", 1, W(0, 1)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\nk", 1, W(0, 2)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nk", 1, W(1, 3)) == PermitTable::Outcome::kQueued);
  CHECK(t.Cancel("s\nk", W(0, 2)));
  CHECK_FALSE(t.Cancel("s\nk", W(0, 2)));
  CHECK_FALSE(t.Cancel("s\nk", W(0, 1)));  // holds the permit: its release follows
  CHECK(t.waiting() == 1);
  std::vector<PermitWaiter> granted;
  t.Release("s\nk", granted);
  REQUIRE(granted.size() == 1);
  CHECK(granted[0] == W(1, 3));
  CHECK(t.Acquire("s\nz", 1, W(2, 9)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\nz", 1, W(2, 10)) == PermitTable::Outcome::kQueued);
  CHECK(t.CancelShard(2) == 1);
  CHECK(t.waiting() == 0);
}

TEST_CASE("the waiters of all ids are bounded; past the bound a request is refused") {
  PermitTable t(3);
  CHECK(t.Acquire("s\na", 1, W(0, 1)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\na", 1, W(0, 2)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\na", 1, W(0, 3)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nb", 1, W(0, 4)) == PermitTable::Outcome::kGranted);  // free: no waiting
  CHECK(t.Acquire("s\nb", 1, W(0, 5)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nb", 1, W(0, 6)) == PermitTable::Outcome::kFull);
  CHECK(t.Acquire("s\nc", 1, W(0, 7)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\nc", 1, W(0, 8)) == PermitTable::Outcome::kFull);
  CHECK(t.waiting() == 3);
}

TEST_CASE("a raised limit lets waiters through at the next release; a request behind waiters queues") {
  PermitTable t;
  CHECK(t.Acquire("s\nk", 1, W(0, 1)) == PermitTable::Outcome::kGranted);
  CHECK(t.Acquire("s\nk", 1, W(0, 2)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nk", 1, W(0, 3)) == PermitTable::Outcome::kQueued);
  // The limit is now 3 (the latest request's), but FIFO: it still queues behind 2 and 3.
  CHECK(t.Acquire("s\nk", 3, W(0, 4)) == PermitTable::Outcome::kQueued);
  std::vector<PermitWaiter> granted;
  t.Release("s\nk", granted);
  CHECK(granted == std::vector<PermitWaiter>{W(0, 2), W(0, 3), W(0, 4)});
  CHECK(t.in_use() == 3);
}

TEST_CASE("gated: permits only within the cluster's leases, each release gives its lease back") {
  PermitTable t;
  t.SetGated(true);
  std::vector<PermitWaiter> granted;
  CHECK_FALSE(t.Wants("s\nk"));
  CHECK(t.Acquire("s\nk", 2, W(0, 1)) == PermitTable::Outcome::kQueued);  // no lease yet
  CHECK(t.Acquire("s\nk", 2, W(1, 2)) == PermitTable::Outcome::kQueued);
  CHECK(t.Acquire("s\nk", 2, W(0, 3)) == PermitTable::Outcome::kQueued);
  CHECK(t.Wants("s\nk"));
  CHECK(t.Limit("s\nk") == 2);
  REQUIRE(t.Allow("s\nk", granted));
  REQUIRE(granted.size() == 1);
  CHECK(granted[0] == W(0, 1));
  CHECK(t.Wants("s\nk"));  // one more would fit the limit
  granted.clear();
  REQUIRE(t.Allow("s\nk", granted));
  CHECK(granted == std::vector<PermitWaiter>{W(1, 2)});
  CHECK(t.InUse("s\nk") == 2);
  CHECK_FALSE(t.Wants("s\nk"));  // at the limit: no more asks
  granted.clear();
  CHECK_FALSE(t.Allow("s\nk", granted));  // a lease beyond the limit is not taken
  // A release gives its lease back: the waiter is not let through until the cluster says so.
  t.Release("s\nk", granted);
  CHECK(granted.empty());
  CHECK(t.InUse("s\nk") == 1);
  CHECK(t.Wants("s\nk"));
  REQUIRE(t.Allow("s\nk", granted));
  CHECK(granted == std::vector<PermitWaiter>{W(0, 3)});
  // No waiter left: a lease that comes now is not used (the home gives it back).
  granted.clear();
  t.Release("s\nk", granted);
  CHECK_FALSE(t.Wants("s\nk"));
  CHECK_FALSE(t.Allow("s\nk", granted));
  t.Release("s\nk", granted);
  CHECK(t.ids() == 0);
  CHECK(t.in_use() == 0);
  // A waiter that leaves before its lease came: the id is dropped, a late lease is not taken.
  CHECK(t.Acquire("s\nj", 1, W(0, 4)) == PermitTable::Outcome::kQueued);
  CHECK(t.Cancel("s\nj", W(0, 4)));
  CHECK(t.ids() == 0);
  CHECK_FALSE(t.Allow("s\nj", granted));
  CHECK(granted.empty());
}

TEST_CASE("views: filtered by scope, busiest first, bounded") {
  PermitTable t;
  for (uint64_t i = 0; i < 4; ++i) (void)t.Acquire("s\nbusy", 1, W(0, i + 1));
  (void)t.Acquire("s\nquiet", 5, W(0, 10));
  (void)t.Acquire("x\nk", 5, W(0, 11));
  auto v = t.Views({"s"}, 10, 1);
  REQUIRE(v.size() == 2);
  CHECK(v[0].key == "busy");
  CHECK(v[0].waiting == 3);
  CHECK(v[0].in_use == 1);
  CHECK(v[0].shard == 1);
  CHECK(v[1].key == "quiet");
  CHECK(t.Views({}, 10, 0).size() == 3);
  CHECK(t.Views({}, 1, 0).size() == 1);
}

TEST_CASE("ids and homes are the same on every shard") {
  CHECK(PermitScope("w", "call", "") == "w#call");
  CHECK(PermitScope("acme/w", "call", "") == "acme/w#call");
  CHECK(PermitScope("w", "call", "payments") == "default/payments");
  CHECK(PermitScope("acme/w", "call", "payments") == "acme/payments");
  CHECK(PermitId("default/payments", "k") == "default/payments\nk");
  CHECK(PermitHome("anything", 1) == 0);
  bool both = false;  // ids spread over the shards
  for (int i = 0; i < 64 && !both; ++i) both = PermitHome("w#s\n" + std::to_string(i), 2) == 1;
  CHECK(both);
  CHECK(PermitHome("w#s\nk", 4) == PermitHome("w#s\nk", 4));
}

TEST_CASE("the busiest ids are published whole and read back") {
  PermitTop top;
  CHECK(top.Read().empty());
  std::vector<PermitKeyView> v(12);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].scope = "s";
    v[i].key = "k" + std::to_string(i);
    v[i].waiting = static_cast<int64_t>(20 - i);
    v[i].in_use = 1;
  }
  v[0].key = std::string(200, 'z');  // cut to the label bound
  top.Publish(v);
  auto rows = top.Read();
  REQUIRE(rows.size() == PermitTop::kSlots);
  CHECK(rows[0].scope == "s");
  CHECK(rows[0].key == std::string(PermitTop::kLabelBytes - 2, 'z'));
  CHECK(rows[1].key == "k1");
  CHECK(rows[1].waiting == 19);
  top.Publish({});
  CHECK(top.Read().empty());
}

TEST_CASE("an http step's concurrency: key, limit, optional scope") {
  Compiled c = C(R"({"key": "{{input.customer}}-{{steps.a.output.x}}", "limit": 3, "scope": "payments-api"})");
  REQUIRE_MESSAGE(c.errors.empty(), rf::engine::test::Dump(c));
  const Step& s = *c.def->FindStep("b");
  REQUIRE(s.permits.has_value());
  CHECK(s.permits->limit == 3);
  CHECK(s.permits->scope == "payments-api");
  CHECK(s.permits->key_source == "{{input.customer}}-{{steps.a.output.x}}");
  CHECK(C(R"({"key": "all", "limit": 100000})").errors.empty());
}

TEST_CASE("an http step's concurrency: every mistake at its pointer") {
  CHECK(HasError(C("5"), "/steps/1/concurrency", "must be an object"));
  CHECK(HasError(C(R"({"limit": 2})"), "/steps/1/concurrency/key", "requires 'key'"));
  CHECK(HasError(C(R"({"key": "", "limit": 2})"), "/steps/1/concurrency/key", "non-empty"));
  CHECK(HasError(C(R"({"key": 3, "limit": 2})"), "/steps/1/concurrency/key", "non-empty"));
  CHECK(HasError(C(R"({"key": "{{inptu.x}}", "limit": 2})"), "/steps/1/concurrency/key", ""));
  CHECK(HasError(C(R"({"key": "{{steps.b.output}}", "limit": 2})"), "/steps/1/concurrency/key", ""));
  CHECK(HasError(C(R"({"key": "k"})"), "/steps/1/concurrency/limit", "requires 'limit'"));
  CHECK(HasError(C(R"({"key": "k", "limit": 0})"), "/steps/1/concurrency/limit", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": 100001})"), "/steps/1/concurrency/limit", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": 1.5})"), "/steps/1/concurrency/limit", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": "2"})"), "/steps/1/concurrency/limit", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": 2, "scope": ""})"), "/steps/1/concurrency/scope", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": 2, "scope": "a/b"})"), "/steps/1/concurrency/scope", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": 2, "scope": 5})"), "/steps/1/concurrency/scope", ""));
  CHECK(HasError(C(R"({"key": "k", "limit": 2, "limt": 2})"), "/steps/1/concurrency/limt", ""));
  for (std::string_view type : {"noop", "delay", "approval", "transform"})
    CHECK(HasError(C(R"({"key": "k", "limit": 2})", type), "/steps/1/concurrency", "http steps only"));
}
}

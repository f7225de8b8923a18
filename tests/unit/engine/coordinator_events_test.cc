// A run's event stream as a subscriber sees it: the history, then the live events, then the
// end; or only what follows a given event, as for a reconnect.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "coordinator_fixture.h"
#include "reactor/shard.h"
#include "test_support.h"

namespace rf::engine::test {
namespace {

const std::vector<std::string> kApprovalEvents = {
    "run.created",  "step.started",   "run.waiting",  "step.succeeded",
    "step.started", "step.succeeded", "run.succeeded"};

Task<void> SubscribeBody(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  const int last = static_cast<int>(e->shards()) - 1;  // with 2 shards the events cross over
  Value run = co_await MustStart(e, "approve", J(R"({"n":1})"), 0, "", last);
  RunId id = IdOf(run);
  co_await WaitStatus(e, id, "waiting");
  const unsigned home = rf::reactor::Shard::Current().id();
  auto sub = std::make_shared<Subscriber>(home, 1 << 20);
  Status st = co_await Subscribe(e, id, 0, sub);
  CO_REQUIRE(st.has_value());
  std::string history = co_await Collect(sub, 3, false);
  CHECK_FALSE(sub->ended());
  std::vector<Frame> h = Frames(history);
  CHECK(Types(h) == std::vector<std::string>(kApprovalEvents.begin(), kApprovalEvents.begin() + 3));

  auto signalled = co_await Signal(e, id, "approve", J(R"({"yes":true})"));
  CO_REQUIRE(signalled.has_value());
  std::string live = co_await Collect(sub, 4, true);
  CHECK(sub->ended());
  std::vector<Frame> l = Frames(live);
  CHECK(Types(l) == std::vector<std::string>(kApprovalEvents.begin() + 3, kApprovalEvents.end()));
  // One stream, numbered without gaps or repeats.
  h.insert(h.end(), l.begin(), l.end());
  for (size_t i = 0; i < h.size(); ++i) {
    CHECK(h[i].seq == i + 1);
    CHECK(Str(h[i].data, "/run") == Str(run, "/id"));
    CHECK(At(h[i].data, "/seq") == Value(static_cast<int64_t>(i + 1)));
  }
  CO_REQUIRE(h.size() == kApprovalEvents.size());
  CHECK(Str(h[1].data, "/step") == "approve");
  CHECK(At(h[3].data, "/data/output") == J(R"({"yes":true})"));
  CHECK(At(h[6].data, "/data/output") == J(R"({"after":{"yes":true}})"));
  CHECK_FALSE(sub->has_pending());

  // Subscribing to a finished run replays it all and ends at once.
  auto late = std::make_shared<Subscriber>(home, 1 << 20);
  st = co_await Subscribe(e, id, 0, late);
  CO_REQUIRE(st.has_value());
  std::string all = co_await Collect(late, kApprovalEvents.size(), true);
  CHECK(late->ended());
  CHECK(Types(Frames(all)) == kApprovalEvents);
  RunId unknown = rf::engine::NewRunId(0, WallNow() / kMillis);
  Status missing = co_await Subscribe(e, unknown, 0, late);
  CO_REQUIRE(!missing.has_value());
  CHECK(missing.error().code == Errc::kNotFound);
}

Task<void> AfterSeqBody(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  const int last = static_cast<int>(e->shards()) - 1;
  Value run = co_await MustStart(e, "approve", J("{}"), 0, "", last);
  RunId id = IdOf(run);
  co_await WaitStatus(e, id, "waiting");
  const unsigned home = rf::reactor::Shard::Current().id();

  // A reconnect that saw events 1 and 2 gets 3 from history, then the live ones.
  auto sub = std::make_shared<Subscriber>(home, 1 << 20);
  Status st = co_await Subscribe(e, id, 2, sub);
  CO_REQUIRE(st.has_value());
  std::vector<Frame> h = Frames(co_await Collect(sub, 1, false));
  CO_REQUIRE(h.size() == 1);
  CHECK(h[0].seq == 3);
  CHECK(h[0].type == "run.waiting");
  auto signalled = co_await Signal(e, id, "approve", Value(1));
  CO_REQUIRE(signalled.has_value());
  std::vector<Frame> l = Frames(co_await Collect(sub, 4, true));
  CO_REQUIRE(l.size() == 4);
  CHECK(l.front().seq == 4);
  CHECK(l.back().seq == 7);
  CHECK(sub->ended());

  // On a finished run: only what comes after the given event.
  auto tail = std::make_shared<Subscriber>(home, 1 << 20);
  st = co_await Subscribe(e, id, 5, tail);
  CO_REQUIRE(st.has_value());
  std::vector<Frame> t = Frames(co_await Collect(tail, 2, true));
  CO_REQUIRE(t.size() == 2);
  CHECK(t[0].seq == 6);
  CHECK(t[1].type == "run.succeeded");
  CHECK(tail->ended());

  auto none = std::make_shared<Subscriber>(home, 1 << 20);
  st = co_await Subscribe(e, id, 7, none);
  CO_REQUIRE(st.has_value());
  std::string nothing = co_await Collect(none, 0, true);
  CHECK(nothing.empty());
  CHECK(none->ended());
}

}  // namespace

TEST_SUITE("engine.coordinator") {
  TEST_CASE("a subscriber gets the run's history, then its live events, then the end" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      Phase(c, &SubscribeBody);
    }
  }

  TEST_CASE("a subscription from an event sequence skips the events up to it" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      Phase(c, &AfterSeqBody);
    }
  }
}

}  // namespace rf::engine::test

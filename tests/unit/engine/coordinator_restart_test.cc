// What survives closing the engine and opening another on the same directory: runs, keys,
// waiting approvals, an http attempt cut short, snapshots, and what retention removed.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "coordinator_fixture.h"
#include "store/embedded/journal.h"
#include "test_support.h"

namespace rf::engine::test {
namespace {

Task<void> ReopenBefore(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  g->http.back()->script = {Reply(404)};
  const int last = static_cast<int>(e->shards()) - 1;
  Value done = co_await MustStart(e, "chain", J(R"({"k":"v"})"), kWait, "durable-1");
  Value waiting = co_await MustStart(e, "approve", J(R"({"n":2})"), 0, "", last);
  Value failed = co_await MustStart(e, "h", J(R"({"id":9})"), kWait, "", last);
  CHECK(Str(done, "/status") == "succeeded");
  CHECK(Str(failed, "/status") == "failed");
  waiting = co_await WaitStatus(e, IdOf(waiting), "waiting");
  for (const Value* v : {&done, &waiting, &failed}) {
    g->ids.push_back(Str(*v, "/id"));
    g->jsons.push_back(S(*v));
  }
}

Task<void> ReopenAfter(Engine* e) {
  std::vector<Value> listed = co_await List(e, &kAnyRun);
  CHECK(listed.size() == 3);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    auto id = rf::engine::ParseRunId(g->ids[i]);
    CO_REQUIRE(id.has_value());
    Result<Value> v = co_await Get(e, *id);
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  // The registry came back too: the same source is not a new version.
  auto put = co_await e->Put("chain", std::string(kChain));
  CO_REQUIRE(put.has_value());
  CHECK_FALSE(put->created);
  CHECK(put->version == 1);
  // The idempotency key still names the first run.
  auto again = co_await Start(e, "chain", J(R"({"k":"other"})"), kWait, "durable-1");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(Str(J(again->json), "/id") == g->ids[0]);
  // The waiting run still waits and takes its signal.
  RunId waiting = *rf::engine::ParseRunId(g->ids[1]);
  auto signalled = co_await Signal(e, waiting, "approve", J(R"({"ok":1})"));
  CO_REQUIRE(signalled.has_value());
  Value done = co_await WaitStatus(e, waiting, "succeeded");
  CHECK(At(done, "/output") == J(R"({"after":{"ok":1}})"));
  // The failed run is still in the dead-letter list.
  RunQuery q;
  q.dead_letter = true;
  std::vector<Value> dead = co_await List(e, &q);
  CO_REQUIRE(dead.size() == 1);
  CHECK(Str(dead[0], "/id") == g->ids[2]);
  CHECK(Str(dead[0], "/error") == "step 'call' failed: HTTP 404");
}

Task<void> InFlightBefore(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.block = true;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value run = co_await MustStart(e, "h", J(R"({"id":5})"));
  g->ids.push_back(Str(run, "/id"));
  const bool in_flight = co_await WaitCount(&http.in_flight, 1);
  CHECK(in_flight);
  // Close (after this body) cancels the call; the attempt stays open in the journal.
}

Task<void> InFlightAfter(Engine* e) {
  RunId id = *rf::engine::ParseRunId(g->ids.at(0));
  Value done = co_await WaitStatus(e, id, "succeeded");
  INFO(S(done));
  Value step = StepOf(done, "call");
  CO_REQUIRE(Size(step, "/attempts") == 2);
  CHECK(Str(step, "/attempts/0/error") == "interrupted by a restart");
  CHECK(At(step, "/attempts/0/finished_ms").is_int());
  CHECK(At(step, "/attempts/1/error").is_null());
  CO_REQUIRE(g->http0().calls.size() == 1);
  CHECK(g->http0().calls[0].idempotency_key == g->ids[0] + "/call");
}

constexpr int kSnapshotRuns = 40;

Task<void> SnapshotBefore(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value waiting = co_await MustStart(e, "approve", J("{}"), 0, "", 0);
  waiting = co_await WaitStatus(e, IdOf(waiting), "waiting");
  g->ids.push_back(Str(waiting, "/id"));
  g->jsons.push_back(S(waiting));
  for (int i = 0; i < kSnapshotRuns; ++i) {
    Value run = co_await MustStart(e, "chain", J("{\"i\":" + std::to_string(i) + "}"), kWait,
                                   "snap-" + std::to_string(i));
    CHECK(Str(run, "/status") == "succeeded");
    g->ids.push_back(Str(run, "/id"));
    g->jsons.push_back(S(run));
  }
}

Task<void> SnapshotAfter(Engine* e) {
  std::vector<Value> listed = co_await List(e, &kAnyRun);
  CHECK(listed.size() == kSnapshotRuns + 1);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids[i]));
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  auto again = co_await Start(e, "chain", J("{}"), kWait, "snap-7");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(Str(J(again->json), "/id") == g->ids[8]);
  RunId waiting = *rf::engine::ParseRunId(g->ids[0]);
  auto signalled = co_await Signal(e, waiting, "approve", Value(7));
  CO_REQUIRE(signalled.has_value());
  Value done = co_await WaitStatus(e, waiting, "succeeded");
  CHECK(At(done, "/output") == J(R"({"after":7})"));
}

// Polls until the run is gone (kNotFound), at most 5 s.
Task<bool> WaitGone(Engine* e, RunId id) {
  const Nanos until = MonoNow() + 5 * kSeconds;
  while (MonoNow() < until) {
    co_await Sleep(20 * kMillis);  // suspends
    Result<Value> v = co_await Get(e, id);
    if (!v && v.error().code == Errc::kNotFound) co_return true;
  }
  co_return false;
}

Task<void> RetentionBody(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value waiting = co_await MustStart(e, "approve", J("{}"));
  Value run = co_await MustStart(e, "chain", J("{}"), kWait, "keep-1");
  RunId id = IdOf(run);
  CO_REQUIRE(Str(run, "/status") == "succeeded");
  const int64_t finished = Int(run, "/finished_ms");
  const bool kept = (co_await Get(e, id)).has_value();
  CHECK(kept);  // not at once
  const bool gone = co_await WaitGone(e, id);
  CO_REQUIRE(gone);
  CHECK(WallNow() / kMillis > finished + 200);  // not before the retention period
  // An unfinished run stays, however old.
  Result<Value> still = co_await Get(e, IdOf(waiting));
  CO_REQUIRE(still.has_value());
  CHECK(Str(*still, "/status") == "waiting");
  // The key was released with the run.
  auto again = co_await Start(e, "chain", J("{}"), kWait, "keep-1");
  CO_REQUIRE(again.has_value());
  CHECK(again->created);
  CHECK(Str(J(again->json), "/id") != Str(run, "/id"));
}

Task<void> RemovedBefore(Engine* e) {
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  Value run = co_await MustStart(e, "chain", J("{}"), kWait);
  g->ids.push_back(Str(run, "/id"));
  const bool gone = co_await WaitGone(e, IdOf(run));
  CHECK(gone);
}

Task<void> RemovedAfter(Engine* e) {
  // Right after Open, before any retention pass.
  Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids.at(0)));
  CHECK_MESSAGE(!v.has_value(), "a run removed by retention is back after a restart");
  const size_t count4 = co_await RunCount(e);
  CHECK(count4 == 0);
}

Task<void> ReusedKeyBefore(Engine* e) {
  if (!co_await Register(e, "approve", std::string(kApproval))) co_return;
  Value first = co_await MustStart(e, "approve", J("{}"), 0, "k");
  RunId id1 = IdOf(first);
  auto signalled = co_await Signal(e, id1, "approve", Value(1));
  CO_REQUIRE(signalled.has_value());
  co_await WaitStatus(e, id1, "succeeded");
  const bool gone = co_await WaitGone(e, id1);
  CO_REQUIRE(gone);
  // The key was released: it now names a second run, which waits (so retention keeps it).
  auto second = co_await Start(e, "approve", J("{}"), 0, "k");
  CO_REQUIRE(second.has_value());
  CHECK(second->created);
  g->ids = {Str(first, "/id"), Str(J(second->json), "/id")};
}

Task<void> ReusedKeyAfter(Engine* e) {
  co_await Sleep(500 * kMillis);  // suspends: several retention passes
  auto again = co_await Start(e, "approve", J("{}"), 0, "k");
  CO_REQUIRE(again.has_value());
  CHECK_MESSAGE(!again->created, "the key no longer finds the run it names: a duplicate run");
  CHECK(Str(J(again->json), "/id") == g->ids.at(1));
}

Task<void> QueuedAtCloseBefore(Engine* e) {
  ScriptedHttp& http = g->http0();
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  Value a = co_await MustStart(e, "h", J(R"({"id":1})"));
  Value b = co_await MustStart(e, "h", J(R"({"id":2})"));
  g->ids = {Str(a, "/id"), Str(b, "/id")};
  const bool started = co_await WaitCount(&http.in_flight, 1);
  CO_REQUIRE(started);
  co_await Sleep(20 * kMillis);   // suspends
  CHECK(http.calls.size() == 1);  // the second waits for the one slot
  Result<Value> queued = co_await Get(e, IdOf(b));
  CO_REQUIRE(queued.has_value());
  CHECK(Str(StepOf(*queued, "call"), "/status") == "running");
}

Task<void> QueuedAtCloseAfter(Engine* e) {
  for (const std::string& id : g->ids) {
    Value done = co_await WaitStatus(e, *rf::engine::ParseRunId(id), "succeeded");
    INFO(S(done));
    CHECK(Str(StepOf(done, "call"), "/attempts/0/error") == "interrupted by a restart");
  }
}

}  // namespace

TEST_SUITE("engine.coordinator") {
  TEST_CASE("runs, keys and waiting approvals survive closing and reopening the engine" *
            doctest::timeout(30)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      c.options.fsync = true;
      Phase(c, &ReopenBefore);
      REQUIRE(c.ids.size() == 3);
      Phase(c, &ReopenAfter);
    }
  }

  TEST_CASE("an http step in flight at close gets a new attempt after reopen" *
            doctest::timeout(30)) {
    Ctx c(1);
    Phase(c, &InFlightBefore);
    REQUIRE(c.ids.size() == 1);
    CHECK(c.http0().cancels == 1);  // Close aborted the call
    c.http0().block = false;
    c.http0().calls.clear();
    Phase(c, &InFlightAfter);
  }

  TEST_CASE("with a tiny snapshot threshold snapshots are written and a reopen restores all runs" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.snapshot_bytes = 1;
    Phase(c, &SnapshotBefore);
    REQUIRE(c.ids.size() == kSnapshotRuns + 1);
    CHECK(HasSnapshot(rf::store::embedded::JournalDir(c.dir.path(), 0)));
    Phase(c, &SnapshotAfter);
  }

  TEST_CASE("a finished run is removed after the retention period, an unfinished one is kept" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.retention = 200 * kMillis;
    Phase(c, &RetentionBody);
  }

  TEST_CASE("a run removed by retention stays removed after a restart" * doctest::timeout(30)) {
    Ctx c(1);
    c.options.retention = 200 * kMillis;
    Phase(c, &RemovedBefore);
    REQUIRE(c.ids.size() == 1);
    Phase(c, &RemovedAfter);
  }

  TEST_CASE("after a restart, removing an old run keeps the key of the newer run that reused it" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.retention = 200 * kMillis;
    Phase(c, &ReusedKeyBefore);
    REQUIRE(c.ids.size() == 2);
    Phase(c, &ReusedKeyAfter);
  }

  TEST_CASE("closing the engine starts no queued http step and does not wait for one" *
            doctest::timeout(30)) {
    Ctx c(1);
    c.options.http_concurrency = 1;
    c.http0().block = true;
    c.http0().block_limit = 3 * kSeconds;  // a call Close did not cancel ends by itself
    Phase(c, &QueuedAtCloseBefore);
    REQUIRE(c.ids.size() == 2);
    CHECK_MESSAGE(c.http0().calls.size() == 1, "Close started the queued call");
    CHECK(c.http0().cancels == 1);
    CHECK(c.close_took < 1 * kSeconds);
    c.http0().block = false;
    c.http0().calls.clear();
    Phase(c, &QueuedAtCloseAfter);
  }
}

}  // namespace rf::engine::test

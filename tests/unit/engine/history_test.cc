// Finished runs once they left memory for the history store: read on every shard, listed,
// found by their key, streamed and retried, and served again after a restart.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator_fixture.h"
#include "engine/coordinator.h"
#include "reactor/shard.h"
#include "store/history_store.h"
#include "test_support.h"

namespace rf::engine::test {
namespace {

constexpr int kHistoryRuns = 12;

// Until no run is held in memory (every finished one moved and evicted), at most kWait.
Task<bool> WaitEvicted(Engine* e, size_t live) {
  const Nanos until = MonoNow() + kWait;
  while (MonoNow() < until) {
    if (co_await RunCount(e) == live) co_return true;
    co_await Sleep(5 * kMillis);  // suspends
  }
  co_return false;
}

Task<std::optional<Result<RunView>>> FinishedOn(Engine* e, RunId id, std::string ns) {
  return e->GetFinished(id, std::move(ns));
}

// GET on any shard without the owner (Engine::GetFinished): every succeeded run, on every
// shard, reads back what its finish answered; a run of another namespace is not found; a failed
// run (it may be retried) is left to its owner.
Task<void> CheckFinished(Engine* e) {
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    const RunId id = *rf::engine::ParseRunId(g->ids[i]);
    for (unsigned s = 0; s < e->shards(); ++s) {
      CAPTURE(s);
      auto now = co_await SubmitTo(s, &FinishedOn, e, id, std::string());
      CO_REQUIRE(now.has_value());  // just written: in RocksDB's memtables
      CO_REQUIRE(now->has_value());
      CHECK(J((*now)->json) == J(g->jsons[i]));
      auto other = co_await SubmitTo(s, &FinishedOn, e, id, std::string("other"));
      CO_REQUIRE(other.has_value());
      CO_REQUIRE(!other->has_value());
      CHECK(other->error().code == Errc::kNotFound);
      auto same = co_await SubmitTo(s, &FinishedOn, e, id, std::string("default"));
      CHECK((same.has_value() && same->has_value()));
    }
  }
  for (unsigned s = 0; s < e->shards(); ++s) {
    auto failed =
        co_await SubmitTo(s, &FinishedOn, e, *rf::engine::ParseRunId(g->key), std::string());
    CHECK_FALSE(failed.has_value());
  }
}

Task<std::vector<std::string>> DeadIdsOn(Engine* e) {
  RunQuery q;
  q.dead_letter = true;
  std::vector<std::string> ids;
  for (const Value& v : co_await List(e, &q)) ids.push_back(Str(v, "/id"));
  co_return ids;
}

int64_t FailedListedOn() { return Coordinator::Local().FailedListed(); }

// Dead-letter read on every shard (Engine::List does not ask a shard whose FailedListed is 0):
// lists exactly `want`; `counted`: the shards' FailedListed summed (-1: not checked).
Task<void> CheckDeadEverywhere(Engine* e, std::vector<std::string> want, int64_t counted) {
  int64_t sum = 0;
  for (unsigned s = 0; s < e->shards(); ++s) {
    CAPTURE(s);
    std::vector<std::string> ids = co_await SubmitTo(s, &DeadIdsOn, e);
    CHECK(ids == want);
    sum += co_await SubmitTo(s, &FailedListedOn);
  }
  if (counted >= 0) CHECK(sum == counted);
}

Task<void> HistoryBefore(Engine* e) {
  ScriptedHttp& http = g->http0();
  http.script = {Reply(500), Reply(500), Reply(500)};
  if (!co_await Register(e, "chain", std::string(kChain))) co_return;
  if (!co_await Register(e, "h", std::string(kHttp))) co_return;
  for (int i = 0; i < kHistoryRuns; ++i) {
    Value run = co_await MustStart(e, "chain", J("{\"i\":" + std::to_string(i) + "}"), kWait,
                                   "hist-" + std::to_string(i));
    CHECK(Str(run, "/status") == "succeeded");
    g->ids.push_back(Str(run, "/id"));
    g->jsons.push_back(S(run));
  }
  Value failed = co_await MustStart(e, "h", J("{}"), kWait, "", 0);
  CO_REQUIRE(Str(failed, "/status") == "failed");
  g->key = Str(failed, "/id");
  const std::vector<std::string> only_failed(1, g->key);
  co_await CheckDeadEverywhere(e, only_failed, -1);  // in memory or moved: listed either way
  const bool evicted = co_await WaitEvicted(e, 0);
  INFO("finished runs still in memory with a zero cache");
  CO_REQUIRE(evicted);
  co_await CheckFinished(e);
  co_await CheckDeadEverywhere(e, only_failed, 0);  // history alone answers

  // GET: every run reads back unchanged from history.
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids[i]));
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  // Listings page through history newest first, without repeats.
  RunQuery q;
  q.workflow = "chain";
  q.limit = 5;
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto p = co_await e->List(q);  // suspends
    CO_REQUIRE(p.has_value());
    for (auto& [id, json] : p->runs) seen.push_back(Str(J(json), "/id"));
    if (!p->more) break;
    q.before = p->runs.back().first;
  }
  // Newest id first (ids made on two shards in one millisecond need not follow the start order).
  std::vector<std::string> want = g->ids;
  std::sort(want.begin(), want.end(), std::greater<>());
  CHECK(seen == want);
  RunQuery dead;
  dead.dead_letter = true;
  std::vector<Value> dl = co_await List(e, &dead);
  CO_REQUIRE(dl.size() == 1);
  CHECK(Str(dl[0], "/id") == g->key);
  CHECK(Str(dl[0], "/step") == "call");
  // A repeated start finds its key in history.
  auto again = co_await Start(e, "chain", J("{}"), kWait, "hist-3");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(J(again->json) == J(g->jsons[3]));
  // SSE history of a run that left memory: every event, then the end.
  auto sub = std::make_shared<Subscriber>(rf::reactor::Shard::Current().id(), 1 << 20);
  RunId first = *rf::engine::ParseRunId(g->ids[0]);
  Status st = co_await Subscribe(e, first, 0, sub);
  CO_REQUIRE(st.has_value());
  std::string text = co_await Collect(sub, 8, true);
  CHECK(sub->ended());
  CHECK(Frames(text).size() == 8);  // created, 3 x (started, succeeded), succeeded
  // A retry brings the failed run back from history and finishes it. While it runs, history
  // still holds it as failed: no shard lists it in dead-letter.
  http.block = true;
  http.block_limit = 300 * kMillis;
  auto retried = co_await Retry(e, *rf::engine::ParseRunId(g->key));
  CO_REQUIRE(retried.has_value());
  CHECK(Str(J(retried->json), "/status") != "failed");
  co_await CheckDeadEverywhere(e, std::vector<std::string>(), 1);
  http.block = false;
  Value done = co_await WaitStatus(e, *rf::engine::ParseRunId(g->key), "succeeded");
  CHECK(Size(StepOf(done, "call"), "/attempts") == 4);
  g->jsons.push_back(S(done));
  const bool moved_again = co_await WaitEvicted(e, 0);
  CHECK(moved_again);
  dl = co_await List(e, &dead);
  CHECK(dl.empty());
}

int64_t InlineFallbacks(Engine* e) {
  int64_t n = 0;
  for (const auto& slot : e->history_stats()->inline_reads) n += slot.fallback.Get();
  return n;
}

Task<void> HistoryAfter(Engine* e) {
  // Opened again with reads on the shards stopping at the (empty) block cache: a shard that is
  // not the owner reads a succeeded run from the disk itself, through the helpers.
  const int64_t fallbacks = InlineFallbacks(e);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    const RunId id = *rf::engine::ParseRunId(g->ids[i]);
    for (unsigned s = 0; s < e->shards(); ++s) {
      if (s == e->OwnerOf(id)) continue;
      auto away = co_await SubmitTo(s, &FinishedOn, e, id, std::string());
      CO_REQUIRE(away.has_value());
      CO_REQUIRE(away->has_value());
      CHECK(J((*away)->json) == J(g->jsons[i]));
    }
  }
  if (e->shards() > 1) CHECK(InlineFallbacks(e) > fallbacks);
  for (size_t i = 0; i < g->ids.size(); ++i) {
    CAPTURE(i);
    Result<Value> v = co_await Get(e, *rf::engine::ParseRunId(g->ids[i]));
    CO_REQUIRE(v.has_value());
    CHECK(*v == J(g->jsons[i]));
  }
  Result<Value> retried = co_await Get(e, *rf::engine::ParseRunId(g->key));
  CO_REQUIRE(retried.has_value());
  CHECK(*retried == J(g->jsons.back()));
  std::vector<Value> all = co_await List(e, &kAnyRun);
  CHECK(all.size() == kHistoryRuns + 1);
  auto again = co_await Start(e, "chain", J("{}"), kWait, "hist-5");
  CO_REQUIRE(again.has_value());
  CHECK_FALSE(again->created);
  CHECK(Str(J(again->json), "/id") == g->ids[5]);
}

}  // namespace

TEST_SUITE("engine.history") {
  TEST_CASE("finished runs that left memory are served from history before and after a restart" *
            doctest::timeout(60)) {
    for (size_t shards : {1, 2}) {
      CAPTURE(shards);
      Ctx c(shards);
      c.options.history_cache = 0;  // every run leaves memory once history has it
      Phase(c, &HistoryBefore);
      REQUIRE(c.ids.size() == kHistoryRuns);
      c.inline_page_cache = false;
      Phase(c, &HistoryAfter);
    }
  }
}

}  // namespace rf::engine::test

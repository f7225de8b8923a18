#include "store/history/embedded_history.h"

#include <doctest/doctest.h>

#include "reactor/test_reactor.h"
#include "test_support.h"

using rf::reactor::Reactor;
using rf::reactor::Task;
using rf::store::HistoryQuery;
using rf::store::HistoryRun;
using rf::store::HistoryStats;
using rf::store::RunId;
using rf::store::RunStatus;
using rf::store::history::EmbeddedHistoryOptions;
using rf::store::history::EmbeddedHistoryStore;

namespace {

RunId Id(int n) {
  RunId id;
  id.bytes[4] = static_cast<uint8_t>(n >> 8);
  id.bytes[5] = static_cast<uint8_t>(n & 0xff);
  id.bytes[15] = 'x';
  return id;
}

HistoryRun Finished(int n) {
  HistoryRun r;
  r.id = Id(n);
  r.workflow = "wf";
  r.version = 1;
  r.status = n % 10 == 0 ? RunStatus::kFailed : RunStatus::kSucceeded;
  r.created_ms = 1000 + n;
  r.finished_ms = 1005 + n;
  r.error = n % 10 == 0 ? "step 'x' failed" : "";
  r.log = "log of run " + std::to_string(n);
  return r;
}

std::pair<uint64_t, uint64_t> InlineCounts(const HistoryStats& s) {
  uint64_t hit = 0, fallback = 0;
  for (const auto& slot : s.inline_reads) {
    hit += slot.hit.Get();
    fallback += slot.fallback.Get();
  }
  return {hit, fallback};
}

std::unique_ptr<EmbeddedHistoryStore> OpenStore(const rf::test::TempDir& dir, bool page_cache = true) {
  // A fresh cache at every open: after a reopen none of the runs' data blocks is in it.
  auto h = std::make_unique<EmbeddedHistoryStore>(
      EmbeddedHistoryOptions{dir.path() + "/h", false, 8 << 20, page_cache});
  REQUIRE(h->Open().has_value());
  return h;
}

// Writes runs 1..n through a store opened for it, then closes it: the next open starts cold.
void WriteFinished(const rf::test::TempDir& dir, int n, bool page_cache) {
  auto h = OpenStore(dir, page_cache);
  rf::test::RunOnReactor(1, [&](Reactor&) -> Task<void> {
    std::vector<HistoryRun> runs;
    for (int i = 1; i <= n; ++i) runs.push_back(Finished(i));
    auto put = co_await h->Put(std::move(runs));
    CHECK(put.has_value());
  });
  h->Close();
}

}  // namespace

TEST_SUITE("store.embedded_history") {
  TEST_CASE("a read that misses memory falls back to the helpers and still returns the run; the next hits" *
            doctest::timeout(60)) {
    // Inline reads from the block cache only, as where the file system has no RWF_NOWAIT: after
    // a restart the first read of a block needs the disk.
    rf::test::TempDir dir;
    WriteFinished(dir, 50, false);
    // After a restart every run reads back, the first read of each from disk.
    auto h = OpenStore(dir, false);
    rf::test::RunOnReactor(1, [&](Reactor&) -> Task<void> {
      for (int i = 1; i <= 50; ++i) {
        auto got = co_await h->Get(Id(i));
        REQUIRE(got.has_value());
        REQUIRE(got->has_value());
        CHECK((*got)->log == Finished(i).log);
        CHECK((*got)->status == Finished(i).status);
      }
      auto [hit0, fallback0] = InlineCounts(h->stats());
      CHECK(fallback0 >= 1);  // the first read of a block not in the cache went to the helpers
      auto again = co_await h->Get(Id(50));  // its blocks are cached now
      REQUIRE(again.has_value());
      REQUIRE(again->has_value());
      CHECK((*again)->log == Finished(50).log);
      auto [hit1, fallback1] = InlineCounts(h->stats());
      CHECK(hit1 == hit0 + 1);
      CHECK(fallback1 == fallback0);

      auto unknown = co_await h->Get(Id(999));
      REQUIRE(unknown.has_value());
      CHECK_FALSE(unknown->has_value());

      HistoryQuery failed;
      failed.status = RunStatus::kFailed;
      failed.limit = 10;
      auto dead = co_await h->List(failed);
      REQUIRE(dead.has_value());
      REQUIRE(dead->size() == 5);
      CHECK((*dead)[0].id == Id(50));
      CHECK((*dead)[4].id == Id(10));
      HistoryQuery by_wf;
      by_wf.workflow = "wf";
      by_wf.limit = 3;
      auto listed = co_await h->List(by_wf);
      REQUIRE(listed.has_value());
      REQUIRE(listed->size() == 4);  // the store answers up to limit + 1 (the engine pages with it)
      CHECK((*listed)[0].id == Id(50));
    });
    h->Close();
  }

  TEST_CASE("after a restart, runs whose tables are in the page cache read inline on the shard" *
            doctest::timeout(60)) {
    rf::test::TempDir dir;
    WriteFinished(dir, 50, true);
    auto h = OpenStore(dir);
    rf::test::RunOnReactor(1, [&](Reactor&) -> Task<void> {
      for (int i = 1; i <= 50; ++i) {
        auto got = co_await h->Get(Id(i));
        REQUIRE(got.has_value());
        REQUIRE(got->has_value());
        CHECK((*got)->log == Finished(i).log);
      }
      HistoryQuery failed;
      failed.status = RunStatus::kFailed;
      failed.limit = 10;
      auto dead = co_await h->List(failed);
      REQUIRE(dead.has_value());
      CHECK(dead->size() == 5);
    });
    auto [hit, fallback] = InlineCounts(h->stats());
    MESSAGE("inline hits " << hit << ", fallbacks " << fallback);
    CHECK(hit == 51);  // 50 GETs and a listing; the tables were opened with the store
    CHECK(fallback == 0);
    h->Close();
  }

  TEST_CASE("a run's log alone: LogNow, then LogAfterMiss without trying memory again" *
            doctest::timeout(60)) {
    rf::test::TempDir dir;
    WriteFinished(dir, 20, false);
    auto h = OpenStore(dir, false);  // block cache only, and cold
    rf::test::RunOnReactor(1, [&](Reactor&) -> Task<void> {
      auto now = h->LogNow(Id(7));
      REQUIRE_FALSE(now.has_value());
      CHECK(now.error().code == rf::Errc::kRetryLater);
      const auto before = InlineCounts(h->stats());
      CHECK(before.second == 1);
      auto read = co_await h->LogAfterMiss(Id(7));
      REQUIRE(read.has_value());
      REQUIRE(read->has_value());
      CHECK(**read == Finished(7).log);
      // No second inline attempt: the counts are LogNow's alone.
      CHECK(InlineCounts(h->stats()) == before);
      auto unknown = co_await h->LogAfterMiss(Id(999));
      REQUIRE(unknown.has_value());
      CHECK_FALSE(unknown->has_value());
      CHECK(InlineCounts(h->stats()) == before);
      // Its block is cached now: the next LogNow answers at once, a hit.
      auto again = h->LogNow(Id(7));
      REQUIRE(again.has_value());
      REQUIRE(again->has_value());
      CHECK(**again == Finished(7).log);
      CHECK(InlineCounts(h->stats()).first == before.first + 1);
    });
    h->Close();
  }
}

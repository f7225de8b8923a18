// The history helpers run on every CPU the process may use, though a pinned shard starts them.

#include "store/history/history_pool.h"

#include <doctest/doctest.h>

#include <future>

#include "reactor/pinned_thread.h"

using rf::store::history::HistoryPool;
using rf::store::history::Lane;
using rf::test::CpusOfThisThread;
using rf::test::FromAPinnedThread;

TEST_SUITE("store.history_pool") {
TEST_CASE("helpers created from a pinned shard run on every allowed CPU") {
  const int all = static_cast<int>(rf::reactor::AllowedCpus().size());
  if (all < 2) {
    MESSAGE("one CPU allowed: nothing to tell apart");
    return;
  }
  for (Lane lane : {Lane::kLookup, Lane::kBulk}) {
    const int cpus = FromAPinnedThread([lane] {
      HistoryPool pool(1, 1, 4, 4);
      std::promise<int> seen;
      REQUIRE(pool.Submit(lane, [&] { seen.set_value(CpusOfThisThread()); }));
      return seen.get_future().get();
    });
    CHECK(cpus == all);
  }
}
}

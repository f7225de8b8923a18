// Helper threads take every CPU the process may use, whichever pinned shard started them.

#include <doctest/doctest.h>

#include <thread>

#include "reactor/pinned_thread.h"
#include "reactor/reactor.h"

using rf::test::CpusOfThisThread;
using rf::test::FromAPinnedThread;

TEST_SUITE("reactor.affinity") {
TEST_CASE("a thread started from a pinned thread is pinned too, until it unpins itself") {
  const int all = static_cast<int>(rf::reactor::AllowedCpus().size());
  if (all < 2) {
    MESSAGE("one CPU allowed: nothing to tell apart");
    return;
  }
  auto child = [](bool unpin) {
    return FromAPinnedThread([unpin] {
      int cpus = 0;
      std::thread helper([&] {
        if (unpin) rf::reactor::UnpinHelperThread();
        cpus = CpusOfThisThread();
      });
      helper.join();
      return cpus;
    });
  };
  CHECK(child(false) == 1);  // inherited: why every helper must unpin itself
  CHECK(child(true) == all);
}
}

// Helper threads take every CPU the process may use, whichever pinned shard started them, and
// every thread we start is named.

#include <doctest/doctest.h>

#include <pthread.h>

#include <string>
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

TEST_SUITE("reactor.thread_name") {
TEST_CASE("a thread is named, and a name longer than the kernel keeps is cut, not refused") {
  auto name_of = [](const char* name) {
    std::string seen;
    std::thread t([&] {
      rf::reactor::NameThread(name);
      char buf[32] = {};
      pthread_getname_np(pthread_self(), buf, sizeof buf);
      seen = buf;
    });
    t.join();
    return seen;
  };
  CHECK(name_of("rf-shard-1") == "rf-shard-1");
  CHECK(name_of("rf-a-name-of-twenty-two") == "rf-a-name-of-tw");  // 15 bytes kept
}
}

#pragma once
// Threads pinned as a shard's is, for the tests of what helper threads inherit.

#include <doctest/doctest.h>
#include <pthread.h>
#include <sched.h>

#include <future>
#include <thread>

#include "reactor/reactor.h"

namespace rf::test {

inline int CpusOfThisThread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(pthread_getaffinity_np(pthread_self(), sizeof set, &set) == 0);
  return CPU_COUNT(&set);
}

// Runs `start` on a thread pinned to one CPU, as a shard's thread is; returns what it returns.
template <class F>
int FromAPinnedThread(F start) {
  std::packaged_task<int()> task([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(reactor::AllowedCpus().front(), &set);
    REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0);
    return start();
  });
  std::future<int> out = task.get_future();
  std::thread t(std::move(task));
  t.join();
  return out.get();
}

}  // namespace rf::test

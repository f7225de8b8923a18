#include <doctest/doctest.h>

#include <thread>

#include "reactor/offload.h"
#include "test_reactor.h"

using rf::reactor::Reactor;
using rf::reactor::Shard;
using rf::reactor::Task;

TEST_SUITE("reactor.offload") {
TEST_CASE("an offloaded call runs on a helper thread and resumes on the calling shard" *
          doctest::timeout(10)) {
  rf::test::RunOnReactor(2, [](Reactor&) -> Task<void> {
    std::thread::id shard_thread = std::this_thread::get_id();
    std::thread::id ran_on = co_await rf::reactor::Offload([] { return std::this_thread::get_id(); });
    CHECK(ran_on != shard_thread);
    CHECK(std::this_thread::get_id() == shard_thread);
    CHECK(Shard::Current().id() == 0);
  });
}

TEST_CASE("a blocking offloaded call does not stop the shard from running timers" *
          doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    static int ticks;
    ticks = 0;
    struct Ticker {
      static Task<void> Run() {
        for (int i = 0; i < 5; ++i) {
          co_await rf::reactor::Sleep(5 * rf::kMillis);
          ++ticks;
        }
      }
    };
    rf::reactor::TaskGroup g;
    rf::reactor::Spawn(Ticker::Run(), &g);
    co_await rf::reactor::Offload([] { std::this_thread::sleep_for(std::chrono::milliseconds(100)); });
    CHECK(ticks == 5);  // the shard kept turning while the helper blocked
    co_await g.Wait();
  });
}
}

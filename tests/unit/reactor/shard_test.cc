#include <doctest/doctest.h>

#include <vector>

#include "base/clock.h"
#include "reactor/shard.h"
#include "test_reactor.h"

using rf::reactor::Reactor;
using rf::reactor::Task;

namespace {

Task<void> SleepThenRecord(rf::Nanos d, int tag, std::vector<int>* order) {
  co_await rf::reactor::Sleep(d);
  order->push_back(tag);
}

}  // namespace

TEST_SUITE("reactor.shard") {
TEST_CASE("a sleep lasts at least its duration" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    rf::Nanos t0 = rf::MonoNow();
    co_await rf::reactor::Sleep(20 * rf::kMillis);
    CHECK(rf::MonoNow() - t0 >= 20 * rf::kMillis);
  });
}

TEST_CASE("timers fire in deadline order, not arming order" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    static std::vector<int> order;
    order.clear();
    rf::reactor::TaskGroup g;
    rf::reactor::Spawn(SleepThenRecord(30 * rf::kMillis, 3, &order), &g);
    rf::reactor::Spawn(SleepThenRecord(10 * rf::kMillis, 1, &order), &g);
    rf::reactor::Spawn(SleepThenRecord(20 * rf::kMillis, 2, &order), &g);
    co_await g.Wait();
    CHECK(order == std::vector<int>{1, 2, 3});
  });
}

TEST_CASE("a destroyed sleep disarms its timer" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    {
      // Never awaited: destroying the task must not leave a dangling timer.
      Task<void> t = SleepThenRecord(5 * rf::kMillis, 0, nullptr);
    }
    co_await rf::reactor::Sleep(15 * rf::kMillis);
    CHECK(true);
  });
}
}

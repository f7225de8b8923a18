#include "reactor/shard.h"

#include <doctest/doctest.h>

#include <coroutine>
#include <new>
#include <vector>

#include "base/clock.h"
#include "reactor/nap.h"
#include "test_reactor.h"

using rf::reactor::Reactor;
using rf::reactor::Sleep;
using rf::reactor::Task;

namespace {

Task<void> SleepThenRecord(rf::Nanos d, int tag, std::vector<int>* order) {
  co_await rf::reactor::Sleep(d);
  order->push_back(tag);
}

Task<void> NapThenRecord(rf::reactor::Nap** where, rf::Nanos d, bool* done) {
  rf::reactor::Nap nap(where, d);
  co_await nap;
  *done = true;
}

Task<void> Mark(int* runs) {
  ++*runs;
  co_return;
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
    static int fired;
    fired = 0;
    // The handle the timer would resume: it counts its runs.
    std::coroutine_handle<> mark = Mark(&fired).release();
    // The sleep lives in storage that outlives it, so a timer left armed would fire into
    // intact memory and resume `mark` (counted) rather than crash.
    alignas(Sleep) static unsigned char storage[sizeof(Sleep)];
    auto* sleep = new (storage) Sleep(5 * rf::kMillis);
    REQUIRE_FALSE(sleep->await_ready());
    sleep->await_suspend(mark);  // arms the timer, as awaiting it would
    sleep->~Sleep();             // the awaiting frame goes away: must disarm
    co_await Sleep(20 * rf::kMillis);
    CHECK(fired == 0);
    // The same sleep, not destroyed, does fire: the check above can see a firing.
    auto* kept = new (storage) Sleep(5 * rf::kMillis);
    kept->await_suspend(mark);
    co_await Sleep(20 * rf::kMillis);
    CHECK(fired == 1);
    kept->~Sleep();
    mark.destroy();
  });
}

TEST_CASE("a nap ends at its duration, or at once when woken, and clears its pointer" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    rf::reactor::Nap* where = nullptr;
    bool done = false;
    rf::reactor::TaskGroup g;
    rf::Nanos t0 = rf::MonoNow();
    rf::reactor::Spawn(NapThenRecord(&where, 10 * rf::kMillis, &done), &g);
    co_await Sleep(rf::kMillis);
    CHECK(where != nullptr);  // asleep: the owner can reach it
    co_await g.Wait();
    CHECK(done);
    CHECK(rf::MonoNow() - t0 >= 10 * rf::kMillis);
    CHECK(where == nullptr);
    done = false;
    t0 = rf::MonoNow();
    rf::reactor::Spawn(NapThenRecord(&where, 60 * rf::kSeconds, &done), &g);
    co_await Sleep(rf::kMillis);
    REQUIRE(where != nullptr);
    where->Wake();  // a minute's backoff cut short
    co_await g.Wait();
    CHECK(done);
    CHECK(rf::MonoNow() - t0 < 30 * rf::kSeconds);
    CHECK(where == nullptr);
  });
}
}

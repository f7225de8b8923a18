#include <doctest/doctest.h>

#include "reactor/submit_to.h"
#include "test_reactor.h"

using rf::reactor::Reactor;
using rf::reactor::Shard;
using rf::reactor::Task;

namespace {

Task<unsigned> IdAfterSleep() {
  co_await rf::reactor::Sleep(rf::kMillis);
  co_return Shard::Current().id();
}

Task<void> PingPong(unsigned to, int rounds, int* done) {
  for (int i = 0; i < rounds; ++i) {
    unsigned id = co_await rf::reactor::SubmitTo(to, [] { return Shard::Current().id(); });
    CHECK(id == to);
  }
  ++*done;
}

}  // namespace

TEST_SUITE("reactor.submit_to") {
TEST_CASE("a function submitted to another shard runs there and returns its value" *
          doctest::timeout(10)) {
  rf::test::RunOnReactor(2, [](Reactor&) -> Task<void> {
    unsigned id = co_await rf::reactor::SubmitTo(1, [] { return Shard::Current().id(); });
    CHECK(id == 1);
    CHECK(Shard::Current().id() == 0);
  });
}

TEST_CASE("a submitted coroutine is awaited on the target shard" * doctest::timeout(10)) {
  rf::test::RunOnReactor(2, [](Reactor&) -> Task<void> {
    unsigned id = co_await rf::reactor::SubmitTo(1, IdAfterSleep);
    CHECK(id == 1);
  });
}

TEST_CASE("submitting to one's own shard runs inline" * doctest::timeout(10)) {
  rf::test::RunOnReactor(2, [](Reactor&) -> Task<void> {
    int v = co_await rf::reactor::SubmitTo(0, [](int x) { return x * 2; }, 21);
    CHECK(v == 42);
  });
}

TEST_CASE("more concurrent submits than the mailbox holds all complete" * doctest::timeout(20)) {
  rf::test::RunOnReactor(2, [](Reactor& r) -> Task<void> {
    static int done;
    done = 0;
    rf::reactor::TaskGroup g;
    constexpr int kTasks = 10000;  // > mailbox capacity (4096)
    for (int i = 0; i < kTasks; ++i) rf::reactor::Spawn(PingPong(1, 3, &done), &g);
    co_await g.Wait();
    CHECK(done == kTasks);
    CHECK(r.shard(0).stats().mailbox_full.Get() > 0);
  });
}
}

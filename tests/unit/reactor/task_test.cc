#include <doctest/doctest.h>

#include <string>

#include "reactor/task.h"
#include "test_reactor.h"

using rf::reactor::Reactor;
using rf::reactor::Task;

namespace {

Task<int> Answer(int* runs) {
  ++*runs;
  co_return 42;
}

Task<std::string> Nested(int depth) {
  if (depth == 0) co_return std::string("leaf");
  std::string inner = co_await Nested(depth - 1);
  co_return inner + "+";
}

Task<void> Bump(int* counter) {
  co_await rf::reactor::Yield{};
  ++*counter;
}

}  // namespace

TEST_SUITE("reactor.task") {
TEST_CASE("a task does not run until awaited and returns its value" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    static int runs;
    runs = 0;
    Task<int> t = Answer(&runs);
    CHECK(runs == 0);  // created, not started
    co_await rf::reactor::Yield{};
    CHECK(runs == 0);  // nor started by the loop
    int v = co_await std::move(t);
    CHECK(runs == 1);
    CHECK(v == 42);
  });
}

TEST_CASE("deeply nested awaits complete without growing the stack" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    std::string s = co_await Nested(10000);
    CHECK(s.size() == 4 + 10000);
  });
}

TEST_CASE("a task group waits for every spawned task" * doctest::timeout(10)) {
  rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    static int counter;
    counter = 0;
    rf::reactor::TaskGroup group;
    for (int i = 0; i < 100; ++i) rf::reactor::Spawn(Bump(&counter), &group);
    CHECK(counter == 0);  // spawned tasks start on a later loop turn
    co_await group.Wait();
    CHECK(counter == 100);
  });
}
}

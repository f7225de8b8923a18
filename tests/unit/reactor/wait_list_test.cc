#include "reactor/wait_list.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "test_reactor.h"

using rf::Deadline;
using rf::reactor::Reactor;
using rf::reactor::Task;
using rf::reactor::TaskGroup;
using rf::reactor::WaitList;

namespace {

// Waits on `list` and records "tag:value" once resumed.
Task<void> WaitAndRecord(WaitList<std::string>* list, Deadline d, std::string tag,
                         std::vector<std::string>* got) {
  WaitList<std::string>::Waiter wait(*list, d, "timeout");
  std::string v = co_await wait;  // suspends
  got->push_back(tag + ":" + v);
}

// Lets every ready coroutine of the shard run.
Task<void> Settle() { co_await rf::reactor::Sleep(1 * rf::kMillis); }

}  // namespace

TEST_SUITE("reactor.wait_list") {
  TEST_CASE("waiters are woken oldest first, each with the value handed to it" * doctest::timeout(10)) {
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      WaitList<std::string> list;
      std::vector<std::string> got;
      TaskGroup g;
      for (const char* tag : {"a", "b", "c"})
        rf::reactor::Spawn(WaitAndRecord(&list, Deadline::Never(), tag, &got), &g);
      co_await Settle();
      CHECK(list.size() == 3);
      list.WakeFront("1");
      list.WakeFront("2");
      co_await Settle();
      CHECK(got == std::vector<std::string>{"a:1", "b:2"});
      CHECK(list.size() == 1);
      list.WakeAll("all");
      co_await g.Wait();
      CHECK(got == std::vector<std::string>{"a:1", "b:2", "c:all"});
      CHECK(list.empty());
    });
  }

  TEST_CASE("a deadline resumes only its own waiter, and a woken waiter's deadline no longer fires" *
            doctest::timeout(10)) {
    rf::test::RunOnReactor(1, [](Reactor&) -> Task<void> {
      WaitList<std::string> list;
      std::vector<std::string> got;
      TaskGroup g;
      rf::reactor::Spawn(WaitAndRecord(&list, Deadline::After(20 * rf::kMillis), "early", &got), &g);
      rf::reactor::Spawn(WaitAndRecord(&list, Deadline::After(5 * rf::kMillis), "short", &got), &g);
      rf::reactor::Spawn(WaitAndRecord(&list, Deadline::Never(), "never", &got), &g);
      co_await Settle();
      list.WakeFront("v");  // "early": its 20 ms timer is disarmed
      co_await rf::reactor::Sleep(40 * rf::kMillis);
      CHECK(got == std::vector<std::string>{"early:v", "short:timeout"});
      CHECK(list.size() == 1);
      list.WakeAll("end");
      co_await g.Wait();
      CHECK(got == std::vector<std::string>{"early:v", "short:timeout", "never:end"});
    });
  }
}

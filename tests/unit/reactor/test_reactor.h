#pragma once
// Runs a coroutine to completion on a fresh reactor of `shards` shards; the
// body runs on shard 0 and the reactor stops when it returns.

#include <functional>

#include "reactor/reactor.h"
#include "reactor/task.h"

namespace rf::test {

inline void RunOnReactor(size_t shards, std::function<reactor::Task<void>(reactor::Reactor&)> body) {
  std::vector<int> cpus(shards, 0);
  reactor::Reactor r({.cpus = cpus});
  struct Runner {
    static reactor::Task<void> Go(reactor::Reactor* r, std::function<reactor::Task<void>(reactor::Reactor&)>* body) {
      co_await (*body)(*r);
      r->Stop();
    }
  };
  auto st = r.Run([&](reactor::Shard& s) {
    if (s.id() == 0) reactor::Spawn(Runner::Go(&r, &body));
  });
  REQUIRE(st.has_value());
}

}  // namespace rf::test

#pragma once
// Turns: coroutines of one shard take turns at a change that suspends and must not interleave
// with another (a durable table write, then publishing it). `co_await turns.Take();` ... then
// `turns.Release();` on every path; waiters go in arrival order. Shard-local, not thread-safe.

#include <coroutine>
#include <deque>

#include "reactor/shard.h"

namespace rf::reactor {

class Turns {
 public:
  struct TakeOp {
    Turns* self;
    bool await_ready() const noexcept { return !self->busy_ && (self->busy_ = true); }
    void await_suspend(std::coroutine_handle<> h) { self->waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  // Suspends until no other coroutine holds the turn.
  TakeOp Take() { return TakeOp{this}; }
  void Release() {
    if (waiters_.empty()) {
      busy_ = false;
      return;
    }
    auto next = waiters_.front();  // the turn passes on: busy_ stays true
    waiters_.pop_front();
    Shard::Current().Schedule(next);
  }

 private:
  bool busy_ = false;
  std::deque<std::coroutine_handle<>> waiters_;
};

}  // namespace rf::reactor

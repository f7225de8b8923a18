#pragma once
// Nap: a pause on the current shard that another coroutine of the same shard cuts short
// (a backoff that Close must not wait out). While it sleeps, *where points to it, so the owner
// can call Wake(); the pointer is cleared when the nap ends either way.

#include <coroutine>
#include <utility>

#include "reactor/shard.h"

namespace rf::reactor {

class Nap {
 public:
  Nap(Nap** where, Nanos duration) : where_(where), duration_(duration) {
    timer_.self = this;
    timer_.fire = [](Shard::TimerNode* n) { static_cast<Timer*>(n)->self->Wake(); };
  }
  ~Nap() {
    Shard::Current().Disarm(&timer_);
    *where_ = nullptr;
  }
  Nap(const Nap&) = delete;
  Nap& operator=(const Nap&) = delete;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    *where_ = this;
    Shard::Current().Arm(&timer_, MonoNow() + duration_);
  }
  void await_resume() noexcept {}
  void Wake() {
    if (!handle_) return;
    Shard::Current().Disarm(&timer_);
    *where_ = nullptr;
    Shard::Current().Schedule(std::exchange(handle_, {}));
  }

 private:
  struct Timer : Shard::TimerNode {
    Nap* self = nullptr;
  };
  Nap** where_;
  Nanos duration_;
  Timer timer_;
  std::coroutine_handle<> handle_;
};

}  // namespace rf::reactor

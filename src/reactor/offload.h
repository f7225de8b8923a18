#pragma once
// Offload: run an unavoidable blocking call (getaddrinfo, a file open, a
// synchronous library) on a helper thread and await the result on the shard.
// The helper pool is process-wide and small; its queue is bounded only by the
// number of suspended callers.

#include <functional>
#include <optional>
#include <type_traits>

#include "reactor/shard.h"

namespace rf::reactor {

namespace detail {
// Queues `job` for a helper thread; threads start on first use.
void OffloadSubmit(std::function<void()> job);
}  // namespace detail

void StopOffloadPool();  // joins the helpers; for orderly shutdown

template <class F>
class OffloadOp {
  using R = std::invoke_result_t<F>;
  using Stored = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

 public:
  explicit OffloadOp(F fn) : fn_(std::move(fn)) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    shard_ = &Shard::Current();
    waiter_ = h;
    detail::OffloadSubmit([this] {
      if constexpr (std::is_void_v<R>) {
        fn_();
        result_.emplace();
      } else {
        result_.emplace(fn_());
      }
      shard_->PostForeign(Message{&Resume, this});
    });
  }
  R await_resume() {
    if constexpr (!std::is_void_v<R>) return std::move(*result_);
  }

 private:
  static void Resume(void* p) {
    auto* op = static_cast<OffloadOp*>(p);
    op->shard_->Schedule(op->waiter_);
  }
  F fn_;
  Shard* shard_ = nullptr;
  std::coroutine_handle<> waiter_;
  std::optional<Stored> result_;
};

template <class F>
[[nodiscard]] OffloadOp<F> Offload(F fn) {
  return OffloadOp<F>(std::move(fn));
}

}  // namespace rf::reactor

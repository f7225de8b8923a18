#pragma once
// SubmitTo: run a function on another shard and await its result.
//
//   int n = co_await SubmitTo(2, [] { return Shard::Current().id(); });
//   Result<Run> r = co_await SubmitTo(owner, StartOnOwner, cmd);  // fn may return a Task
//
// The awaiter lives in the caller's frame; the message carries a pointer to
// it, so nothing is allocated (unless fn returns a Task, whose frame is).
// fn and its arguments are moved to the target and must not refer to the
// caller's shard-local state. Submitting to one's own shard runs fn inline.

#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>

#include "reactor/reactor.h"
#include "reactor/shard.h"
#include "reactor/task.h"

namespace rf::reactor {

namespace detail {
template <class T>
struct TaskValue {
  static constexpr bool kIsTask = false;
  using type = T;
};
template <class T>
struct TaskValue<Task<T>> {
  static constexpr bool kIsTask = true;
  using type = T;
};
}  // namespace detail

template <class F, class... Args>
class SubmitToOp {
  using Raw = std::invoke_result_t<F, Args...>;
  static constexpr bool kIsTask = detail::TaskValue<Raw>::kIsTask;
  using R = typename detail::TaskValue<Raw>::type;
  using Stored = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

 public:
  SubmitToOp(unsigned to, F fn, Args... args)
      : to_(to), fn_(std::move(fn)), args_(std::move(args)...) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    from_ = &Shard::Current();
    waiter_ = h;
    if constexpr (!kIsTask) {
      if (to_ == from_->id()) {
        Invoke();
        return false;  // ran inline: resume at once
      }
    }
    from_->Post(to_, Message{&RunThere, this});
    return true;
  }
  R await_resume() {
    if constexpr (!std::is_void_v<R>) return std::move(*result_);
  }

 private:
  void Invoke()
    requires(!kIsTask)
  {
    if constexpr (std::is_void_v<R>) {
      std::apply(fn_, std::move(args_));
      result_.emplace();
    } else {
      result_.emplace(std::apply(fn_, std::move(args_)));
    }
  }
  static void RunThere(void* p) {
    auto* op = static_cast<SubmitToOp*>(p);
    if constexpr (kIsTask) {
      Spawn(RunTask(op));
    } else {
      op->Invoke();
      op->Reply();
    }
  }
  static Task<void> RunTask(SubmitToOp* op) {
    if constexpr (std::is_void_v<R>) {
      co_await std::apply(op->fn_, std::move(op->args_));
      op->result_.emplace();
    } else {
      op->result_.emplace(co_await std::apply(op->fn_, std::move(op->args_)));
    }
    op->Reply();
  }
  void Reply() {
    if (to_ == from_->id()) {
      Shard::Current().Schedule(waiter_);
      return;
    }
    Shard::Current().Post(from_->id(), Message{&ResumeHere, this});
  }
  static void ResumeHere(void* p) {
    auto* op = static_cast<SubmitToOp*>(p);
    Shard::Current().Schedule(op->waiter_);
  }

  unsigned to_;
  F fn_;
  std::tuple<Args...> args_;
  Shard* from_ = nullptr;
  std::coroutine_handle<> waiter_;
  std::optional<Stored> result_;
};

template <class F, class... Args>
[[nodiscard]] SubmitToOp<F, Args...> SubmitTo(unsigned to, F fn, Args... args) {
  return SubmitToOp<F, Args...>(to, std::move(fn), std::move(args)...);
}

}  // namespace rf::reactor

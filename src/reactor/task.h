#pragma once
// Task<T>: a lazy coroutine. Nothing runs until it is awaited; when it
// finishes it resumes its awaiter directly (symmetric transfer), so chains of
// awaits neither grow the stack nor go through a scheduler.
//
// Spawn() detaches a Task<void> onto the current shard's ready queue; a
// TaskGroup counts detached tasks so shutdown can await them.

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace rf::reactor {

namespace detail {

struct PromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return h.promise().continuation;
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  // Errors travel as values; an exception escaping a coroutine is a bug.
  void unhandled_exception() noexcept { std::terminate(); }
};

}  // namespace detail

template <class T>
class Task;

namespace detail {

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object();
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object();
  void return_void() noexcept {}
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;

  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() {
    if constexpr (!std::is_void_v<T>) return std::move(*h_.promise().value);
  }

  std::coroutine_handle<promise_type> release() { return std::exchange(h_, {}); }

 private:
  friend promise_type;
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

template <class T>
Task<T> detail::Promise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<Promise>::from_promise(*this));
}

inline Task<void> detail::Promise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<Promise>::from_promise(*this));
}

// Counts detached tasks of one shard; Wait() resumes once all have finished.
class TaskGroup {
 public:
  void Enter() { ++active_; }
  void Leave();
  size_t active() const { return active_; }

  struct WaitOp {
    TaskGroup& g;
    bool await_ready() const noexcept { return g.active_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { g.waiter_ = h; }
    void await_resume() noexcept {}
  };
  WaitOp Wait() { return WaitOp{*this}; }

 private:
  size_t active_ = 0;
  std::coroutine_handle<> waiter_;
};

// Detaches `task` onto the current shard: it starts on the next loop turn and
// its frame frees itself when done. `group`, if given, counts it.
void Spawn(Task<void> task, TaskGroup* group = nullptr);

}  // namespace rf::reactor

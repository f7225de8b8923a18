#pragma once
// WaitList<T>: coroutines on one shard waiting, oldest first, for a value of T
// that code on the same shard hands them (a free connection, the outcome of a
// connection attempt), each with its own deadline. A Waiter lives in its
// coroutine's frame: exactly one of WakeFront, WakeAll and its deadline
// resumes it (each unlinks it first), and its destructor disarms its timer.
//
//   WaitList<Status>::Waiter wait(list, deadline, Error{Errc::kTimeout, "..."});
//   Status s = co_await wait;  // suspends

#include <coroutine>
#include <optional>
#include <utility>

#include "base/clock.h"
#include "reactor/shard.h"

namespace rf::reactor {

template <class T>
class WaitList {
 public:
  class Waiter {
   public:
    // `on_timeout`: what the waiter gets when its deadline passes first.
    Waiter(WaitList& list, Deadline deadline, T on_timeout)
        : list_(list), deadline_(deadline), on_timeout_(std::move(on_timeout)) {
      timer_.self = this;
      timer_.fire = [](Shard::TimerNode* n) {
        Waiter* w = static_cast<Timer*>(n)->self;
        w->list_.Resume(w, std::move(w->on_timeout_));
      };
    }
    ~Waiter() { Shard::Current().Disarm(&timer_); }
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      handle_ = h;
      prev_ = list_.tail_;
      (list_.tail_ != nullptr ? list_.tail_->next_ : list_.head_) = this;
      list_.tail_ = this;
      ++list_.size_;
      if (!deadline_.never()) Shard::Current().Arm(&timer_, deadline_.at());
    }
    T await_resume() { return std::move(*value_); }

   private:
    friend class WaitList;
    struct Timer : Shard::TimerNode {
      Waiter* self = nullptr;
    };

    WaitList& list_;
    Deadline deadline_;
    T on_timeout_;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    std::coroutine_handle<> handle_;
    Timer timer_;
    std::optional<T> value_;
  };

  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }

  // Resumes the oldest waiter with `v`. The list must not be empty.
  void WakeFront(T v) { Resume(head_, std::move(v)); }
  // Resumes every waiter with a copy of `v`, oldest first.
  void WakeAll(const T& v) {
    while (head_ != nullptr) Resume(head_, v);
  }

 private:
  void Resume(Waiter* w, T v) {
    (w->prev_ != nullptr ? w->prev_->next_ : head_) = w->next_;
    (w->next_ != nullptr ? w->next_->prev_ : tail_) = w->prev_;
    w->prev_ = w->next_ = nullptr;
    --size_;
    Shard::Current().Disarm(&w->timer_);
    w->value_.emplace(std::move(v));
    Shard::Current().Schedule(w->handle_);
  }

  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace rf::reactor

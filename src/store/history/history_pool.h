#pragma once
// HistoryPool: the helper threads that run HistoryDb's blocking calls for the
// shards. Two lanes with their own threads: lookups on a request's path (GET,
// an idempotent start, listings) never wait behind bulk work (moving finished
// runs in, retention), and a burst of lookups cannot starve the moves (which
// would hold back new starts). Each lane has a capacity; a call that finds its
// lane full is refused at once (kUnavailable) instead of queueing without bound.
//
// `co_await pool.Run(lane, fn)` runs `fn` on a helper and resumes the caller
// on its own shard with fn's result (a Result<T>).

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/shard.h"

namespace rf::store::history {

enum class Lane { kLookup, kBulk };

struct PoolStats {
  std::atomic<uint64_t> rejected{0};
  std::atomic<int64_t> queued{0};
};

class HistoryPool {
 public:
  HistoryPool(size_t lookup_threads, size_t bulk_threads, size_t lookup_capacity,
              size_t bulk_capacity);
  ~HistoryPool();  // joins the helpers after running what was queued
  HistoryPool(const HistoryPool&) = delete;
  HistoryPool& operator=(const HistoryPool&) = delete;

  // False (the job was not taken) when the lane is full.
  bool Submit(Lane lane, std::function<void()> job);
  const PoolStats& stats() const { return stats_; }

  template <class F>
  class Op {
   public:
    using R = std::invoke_result_t<F>;  // a Result<T> or Status
    Op(HistoryPool& pool, Lane lane, F fn) : pool_(pool), lane_(lane), fn_(std::move(fn)) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      shard_ = &reactor::Shard::Current();
      waiter_ = h;
      bool taken = pool_.Submit(lane_, [this] {
        result_.emplace(fn_());
        shard_->PostForeign(reactor::Message{&Resume, this});
      });
      if (!taken) result_.emplace(Error{Errc::kUnavailable, "history store busy; retry"});
      return taken;  // not taken: resume at once with the refusal
    }
    R await_resume() { return std::move(*result_); }

   private:
    static void Resume(void* p) {
      auto* op = static_cast<Op*>(p);
      op->shard_->Schedule(op->waiter_);
    }
    HistoryPool& pool_;
    Lane lane_;
    F fn_;
    reactor::Shard* shard_ = nullptr;
    std::coroutine_handle<> waiter_;
    std::optional<R> result_;
  };

  template <class F>
  [[nodiscard]] Op<F> Run(Lane lane, F fn) {
    return Op<F>(*this, lane, std::move(fn));
  }

 private:
  void Work(size_t lane);

  const size_t capacity_[2];
  std::mutex mu_;
  std::condition_variable cv_[2];
  std::deque<std::function<void()>> jobs_[2];
  std::vector<std::thread> threads_;
  bool stop_ = false;
  PoolStats stats_;
};

}  // namespace rf::store::history

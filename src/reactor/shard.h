#pragma once
// Shard: one thread, one io_uring, one ready queue, one timer set. Everything
// a shard owns is touched only by its own thread; other shards reach it via
// mailboxes (see submit_to.h), helper threads via PostForeign().
//
// The loop: reap completions -> fire due timers -> drain mailboxes -> resume
// ready coroutines -> submit and wait (bounded by the next timer). Completions
// never resume a coroutine inside the reap loop: they queue its handle.

#include <liburing.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "obs/metrics.h"
#include "reactor/mailbox.h"
#include "reactor/task.h"

namespace rf::reactor {

class Reactor;

// Every SQE's user_data is a Completion* (or 0 / kWakeTag).
struct Completion {
  void (*on_complete)(Completion* self, int32_t res, uint32_t flags) = nullptr;
};

struct ShardStats {
  obs::Counter loop_iterations;
  obs::Counter completions;
  obs::Counter mailbox_full;  // pushes that found the destination mailbox full
  obs::Gauge mailbox_depth;   // messages waiting for this shard, sampled per loop
  // One turn's work: from the ring's answer to the next submit-and-wait. A request that arrives
  // meanwhile is not read before the turn ends, so this bounds what the shard adds to a reply.
  obs::Histogram turn;
};

struct RingFeatures {
  bool single_issuer = false;  // SINGLE_ISSUER|DEFER_TASKRUN (6.1+)
  bool coop_taskrun = false;   // fallback (5.19+)
  bool msg_ring = false;       // IORING_OP_MSG_RING (5.18+)
  bool multishot_accept = false;  // 5.19+
  std::string Describe() const;
};

class Shard {
 public:
  Shard(Reactor& reactor, unsigned id, int cpu);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // The shard running on this thread; RF_CHECKs there is one.
  static Shard& Current();
  static Shard* CurrentOrNull();

  unsigned id() const { return id_; }
  int cpu() const { return cpu_; }
  int numa_node() const { return numa_node_; }
  Reactor& reactor() { return reactor_; }
  const RingFeatures& features() const { return features_; }
  ShardStats& stats() { return stats_; }

  // Runs on the shard's own thread: creates the ring, pins, then loops until Stop().
  Status Init();
  void Loop();
  void RequestStop();  // any thread
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }

  void Schedule(std::coroutine_handle<> h) { ready_.push_back(h); }
  // A free SQE; submits to make room when the SQ is full.
  io_uring_sqe* Sqe();
  // Cancels the in-flight operation whose user_data is `op`; its own completion
  // then arrives with -ECANCELED (or its normal result, if it won the race).
  void Cancel(Completion* op);

  // Timers. A TimerNode must stay alive while armed (Sleep keeps it in the frame).
  struct TimerNode {
    void (*fire)(TimerNode*) = nullptr;
    std::multimap<Nanos, TimerNode*>::iterator pos;
    bool armed = false;
  };
  void Arm(TimerNode* t, Nanos when);
  void Disarm(TimerNode* t);

  // Cross-shard messaging (used by SubmitTo): delivered on `to`'s thread.
  void Post(unsigned to, Message m);
  // From a non-shard thread (Offload helpers, signal handling).
  void PostForeign(Message m);
  void Wake();  // any thread

 private:
  friend class Reactor;
  void Reap(io_uring_cqe* cqe);
  void ArmWakeRead();
  void FireTimers(Nanos now);
  void DrainMail();
  void FlushOverflow();
  void RunReady();

  Reactor& reactor_;
  const unsigned id_;
  const int cpu_;
  int numa_node_ = -1;
  io_uring ring_{};
  bool ring_ok_ = false;
  RingFeatures features_;
  ShardStats stats_;
  std::atomic<bool> stop_{false};

  std::vector<std::coroutine_handle<>> ready_;
  std::vector<std::coroutine_handle<>> running_;
  std::multimap<Nanos, TimerNode*> timers_;

  // Messages that found their destination mailbox full; retried every turn.
  std::vector<std::pair<unsigned, Message>> overflow_;

  // eventfd: wake-ups from foreign threads and the MSG_RING fallback.
  int event_fd_ = -1;
  uint64_t event_buf_ = 0;
  Completion wake_read_;
  std::mutex foreign_mu_;  // only between this shard and helper threads, never shard<->shard
  std::vector<Message> foreign_;
  std::vector<Message> foreign_swap_;
};

// Awaitable sleep on the current shard.
class Sleep {
 public:
  explicit Sleep(Nanos duration) : when_(MonoNow() + duration) {}
  static Sleep Until(Nanos when) { return Sleep(when, 0); }
  ~Sleep();
  bool await_ready() const noexcept { return when_ <= MonoNow(); }
  void await_suspend(std::coroutine_handle<> h);
  void await_resume() noexcept {}

 private:
  Sleep(Nanos when, int) : when_(when) {}
  static void Fire(Shard::TimerNode* n);
  struct Node : Shard::TimerNode {
    std::coroutine_handle<> waiter;
  };
  Nanos when_;
  Node node_;
  Shard* shard_ = nullptr;
};

// Yields to other ready work on this shard (long loops call this).
struct Yield {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { Shard::Current().Schedule(h); }
  void await_resume() noexcept {}
};

}  // namespace rf::reactor

#pragma once
// Subscriber: one live event stream (an SSE connection), fed by the shards
// that own the runs it watches. It lives on its connection's shard ("home");
// an owner shard never waits for it: Publish() hands references to the
// frames' shared chunks over by mailbox and returns, and the home shard queues
// them. Nothing is copied per subscriber: the queue holds references, and the
// writer hands several queued chunks to the kernel in one vectored send. A
// subscriber whose unsent bytes pass its bound is cut off (its writer is
// aborted) so a stalled reader costs its owner nothing but references up to
// that bound, and never slows the other subscribers.
//
// Shared by shared_ptr between the home shard and the owners' subscription
// lists; `closed` is the only field read off the home shard.

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fanout/chunk.h"

namespace rf::fanout {

class Subscriber {
 public:
  Subscriber(unsigned home, size_t max_buffer) : home_(home), max_buffer_(max_buffer) {
    live_.fetch_add(1, std::memory_order_seq_cst);
  }
  ~Subscriber() { live_.fetch_sub(1, std::memory_order_seq_cst); }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Subscribers alive in the process, counted from before they subscribe: a
  // relay that finds none may skip reading event data (any thread).
  static int64_t Live() { return live_.load(std::memory_order_seq_cst); }

  // On an owner shard: `frames` reach the subscriber on its home shard in
  // publication order (per owner). `end`: nothing follows (the run finished).
  static void Publish(const std::shared_ptr<Subscriber>& s, std::vector<Chunk> frames, bool end);
  static void Publish(const std::shared_ptr<Subscriber>& s, std::string frames, bool end);
  // The same frames to many subscribers: one mailbox message per home shard,
  // whatever the number of subscribers there (a workflow feed's fanout).
  static void PublishAll(std::span<const std::shared_ptr<Subscriber>> subs, const std::vector<Chunk>& frames);

  // Home shard only.
  unsigned home() const { return home_; }
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  void Close() { closed_.store(true, std::memory_order_relaxed); }
  bool overflowed() const { return overflowed_; }
  bool ended() const { return ended_; }
  // Moves the queued chunks to `out` (cleared first; its capacity is reused).
  void TakePending(std::vector<Chunk>& out) {
    out.clear();
    out.swap(pending_);
    pending_bytes_ = 0;
  }
  bool has_pending() const { return !pending_.empty(); }
  size_t pending_bytes() const { return pending_bytes_; }
  // Called when the subscriber overflows, to abort the writer's in-flight send.
  void OnOverflow(void (*fn)(void*), void* ctx) { abort_fn_ = fn, abort_ctx_ = ctx; }
  // The writer parks here until frames arrive, the stream ends or overflows.
  void Park(std::coroutine_handle<> h) { waiter_ = h; }
  void Unpark() { waiter_ = {}; }
  void Wake();  // resumes a parked writer (it then looks at the stream's state)
  // Home shard: queues `frames` (references) as if published (tests, same-shard owners).
  void Deliver(std::span<const Chunk> frames, bool end);

 private:
  static void DeliverThere(void* p);
  static void DeliverAllThere(void* p);

  static inline std::atomic<int64_t> live_{0};
  const unsigned home_;
  std::atomic<bool> closed_{false};
  bool ended_ = false;
  bool overflowed_ = false;
  const size_t max_buffer_;
  size_t pending_bytes_ = 0;  // bytes of the queued chunks (the bound applies to them)
  std::vector<Chunk> pending_;
  std::coroutine_handle<> waiter_;
  void (*abort_fn_)(void*) = nullptr;
  void* abort_ctx_ = nullptr;
};

}  // namespace rf::fanout

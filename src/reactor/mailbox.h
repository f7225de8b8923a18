#pragma once
// Mailbox: a bounded single-producer/single-consumer ring of messages between
// two shards. One exists per ordered pair (from, to), so no two writers ever
// share one and no lock is needed. A message is two words: a function and
// its argument (usually an awaiter living in the sender's coroutine frame).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace rf::reactor {

struct Message {
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
};

class Mailbox {
 public:
  explicit Mailbox(size_t capacity_pow2);

  // Producer side. Returns false when full. Sets `was_empty` when the consumer
  // may have gone to sleep with nothing to do and so needs a wake-up.
  bool Push(Message m, bool& was_empty);
  // Consumer side: pops one message; false when empty.
  bool Pop(Message& m);
  size_t Depth() const;

 private:
  const size_t mask_;
  std::unique_ptr<Message[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  // consumer
  alignas(64) std::atomic<uint64_t> tail_{0};  // producer
};

}  // namespace rf::reactor

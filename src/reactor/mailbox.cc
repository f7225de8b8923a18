#include "reactor/mailbox.h"

#include "base/check.h"

namespace rf::reactor {

Mailbox::Mailbox(size_t capacity_pow2)
    : mask_(capacity_pow2 - 1), slots_(std::make_unique<Message[]>(capacity_pow2)) {
  RF_CHECK(capacity_pow2 >= 2 && (capacity_pow2 & mask_) == 0);
}

bool Mailbox::Push(Message m, bool& was_empty) {
  uint64_t t = tail_.load(std::memory_order_relaxed);
  if (t - head_.load(std::memory_order_acquire) > mask_) return false;
  slots_[t & mask_] = m;
  // seq_cst store then load pairs with the consumer's store(head) then
  // load(tail): either the consumer sees this message before it sleeps, or
  // we see it has drained everything and wake it.
  tail_.store(t + 1, std::memory_order_seq_cst);
  was_empty = head_.load(std::memory_order_seq_cst) == t;
  return true;
}

bool Mailbox::Pop(Message& m) {
  uint64_t h = head_.load(std::memory_order_relaxed);
  if (h == tail_.load(std::memory_order_seq_cst)) return false;
  m = slots_[h & mask_];
  head_.store(h + 1, std::memory_order_seq_cst);
  return true;
}

size_t Mailbox::Depth() const {
  return static_cast<size_t>(tail_.load(std::memory_order_relaxed) -
                             head_.load(std::memory_order_relaxed));
}

}  // namespace rf::reactor

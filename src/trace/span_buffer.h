#pragma once
// SpanBuffer: a shard's bounded ring of finished spans waiting for export. One writer and one
// reader, both on the owning shard (the engine records, the shard's exporter reads), so no lock
// and no atomics. Slots are reused with their strings' capacity: once warm, recording a span
// copies into existing storage instead of allocating.

#include <cstddef>
#include <vector>

#include "trace/span.h"

namespace rf::trace {

class SpanBuffer {
 public:
  explicit SpanBuffer(size_t capacity) : slots_(capacity ? capacity : 1) {}

  // The slot for the next span, to fill in place; every field must be set (it holds an older
  // span's values). nullptr when full: the caller counts the span as dropped.
  Span* Claim() {
    if (size_ == slots_.size()) return nullptr;
    Span* s = &slots_[(head_ + size_) % slots_.size()];
    ++size_;
    return s;
  }
  // The i-th oldest span (i < size()).
  const Span& At(size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
  // Forgets the n oldest spans (n <= size()).
  void Pop(size_t n) {
    head_ = (head_ + n) % slots_.size();
    size_ -= n;
  }
  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

 private:
  std::vector<Span> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace rf::trace

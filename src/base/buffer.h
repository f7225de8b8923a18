#pragma once
// Buffer: a growable byte buffer with a read and a write position, reused
// across requests on one connection so the hot path does not allocate.
// Readable bytes are [rpos, wpos); free space is [wpos, capacity).

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace rf {

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t capacity) { Reserve(capacity); }
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;

  static Buffer From(std::string_view s) {
    Buffer b(s.size());
    b.Append(s);
    return b;
  }

  char* data() { return data_.get() + rpos_; }
  const char* data() const { return data_.get() + rpos_; }
  size_t size() const { return wpos_ - rpos_; }
  bool empty() const { return wpos_ == rpos_; }
  size_t capacity() const { return cap_; }
  std::string_view view() const { return {data(), size()}; }
  std::span<char> readable() { return {data(), size()}; }

  // Free space after the readable bytes, at least `min` bytes (compacting or growing).
  std::span<char> Writable(size_t min = 1) {
    EnsureFree(min);
    return {data_.get() + wpos_, cap_ - wpos_};
  }
  void Commit(size_t n) { wpos_ += n; }
  void Consume(size_t n) {
    rpos_ += n;
    if (rpos_ == wpos_) rpos_ = wpos_ = 0;
  }
  void Clear() { rpos_ = wpos_ = 0; }

  void Append(std::string_view s) {
    if (s.empty()) return;  // an empty buffer's data_ may be null: memcpy(null, ...) is undefined
    EnsureFree(s.size());
    std::memcpy(data_.get() + wpos_, s.data(), s.size());
    wpos_ += s.size();
  }
  void Append(char c) {
    EnsureFree(1);
    data_[wpos_++] = c;
  }
  void AppendUnsigned(unsigned long long v);
  void AppendSigned(long long v);

  // Gives memory back after a burst (a large body) so idle connections stay small.
  void ShrinkTo(size_t cap);

  void Reserve(size_t cap);

 private:
  void EnsureFree(size_t n) {
    if (cap_ - wpos_ >= n) return;
    Grow(n);
  }
  void Grow(size_t n);

  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
  size_t rpos_ = 0;
  size_t wpos_ = 0;
};

}  // namespace rf

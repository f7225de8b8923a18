#include "base/buffer.h"

#include <algorithm>
#include <charconv>

namespace rf {

void Buffer::Reserve(size_t cap) {
  if (cap <= cap_) return;
  auto fresh = std::make_unique_for_overwrite<char[]>(cap);
  if (size() > 0) std::memcpy(fresh.get(), data(), size());
  wpos_ -= rpos_;
  rpos_ = 0;
  data_ = std::move(fresh);
  cap_ = cap;
}

void Buffer::Grow(size_t n) {
  // Compact first: a pipelined stream keeps consuming from the front.
  if (rpos_ > 0 && cap_ - size() >= n) {
    std::memmove(data_.get(), data(), size());
    wpos_ -= rpos_;
    rpos_ = 0;
    return;
  }
  Reserve(std::max({cap_ * 2, size() + n, size_t{256}}));
}

void Buffer::ShrinkTo(size_t cap) {
  if (cap_ <= cap || size() > cap) return;
  auto fresh = std::make_unique_for_overwrite<char[]>(cap);
  if (size() > 0) std::memcpy(fresh.get(), data(), size());
  wpos_ -= rpos_;
  rpos_ = 0;
  data_ = std::move(fresh);
  cap_ = cap;
}

void Buffer::AppendUnsigned(unsigned long long v) {
  auto out = Writable(24);
  auto r = std::to_chars(out.data(), out.data() + out.size(), v);
  Commit(static_cast<size_t>(r.ptr - out.data()));
}

void Buffer::AppendSigned(long long v) {
  auto out = Writable(24);
  auto r = std::to_chars(out.data(), out.data() + out.size(), v);
  Commit(static_cast<size_t>(r.ptr - out.data()));
}

}  // namespace rf

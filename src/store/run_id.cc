#include "store/run_id.h"

#include <cstring>
#include <random>

#include "base/hash_ring.h"

namespace rf::store {

int64_t RunId::unix_ms() const {
  int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes[i];
  return ms;
}

void RunId::Format(char out[36]) const {
  static constexpr char kHex[] = "0123456789abcdef";
  char* p = out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = kHex[bytes[i] >> 4];
    *p++ = kHex[bytes[i] & 15];
  }
}

std::string RunId::ToString() const {
  std::string s(36, '\0');
  Format(s.data());
  return s;
}

RunId NewRunId(uint32_t partition, int64_t unix_ms) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  thread_local int64_t last_ms = 0;
  thread_local uint32_t counter = 0;
  // Same millisecond: bump the 4-bit counter, then borrow the next millisecond,
  // so ids of one thread never go backwards.
  if (unix_ms <= last_ms) {
    if (++counter > 15) {
      counter = 0;
      ++last_ms;
    }
    unix_ms = last_ms;
  } else {
    counter = 0;
    last_ms = unix_ms;
  }
  RunId id;
  for (int i = 5; i >= 0; --i) {
    id.bytes[i] = static_cast<uint8_t>(unix_ms & 0xff);
    unix_ms >>= 8;
  }
  id.bytes[6] = static_cast<uint8_t>(0x70 | counter);
  id.bytes[7] = static_cast<uint8_t>(partition % kPartitions);
  uint64_t r = rng();
  std::memcpy(&id.bytes[8], &r, 8);
  id.bytes[8] = static_cast<uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // RFC 9562 variant
  return id;
}

Result<RunId> ParseRunId(std::string_view text) {
  auto bad = [&] {
    return Error{Errc::kInvalidArgument, "run id must be a UUID (8-4-4-4-12 hex digits)"};
  };
  if (text.size() != 36) return bad();
  RunId id;
  size_t b = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad();
      ++i;
      continue;
    }
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(text[i]), lo = nib(text[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    id.bytes[b++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return id;
}

size_t RunIdHash::operator()(const RunId& id) const noexcept {
  uint64_t a, b;
  std::memcpy(&a, id.bytes.data(), 8);
  std::memcpy(&b, id.bytes.data() + 8, 8);
  return static_cast<size_t>(Mix64(a ^ Mix64(b)));
}

}  // namespace rf::store

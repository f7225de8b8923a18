#include "store/embedded/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace rf::store::embedded {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // 0x1EDC6F41 bit-reversed

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

// The raw register update, without the pre/post inversion.
uint32_t UpdateSoftware(uint32_t state, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) state = kTable[(state ^ p[i]) & 0xFF] ^ (state >> 8);
  return state;
}

#if defined(__x86_64__)
// Compiled for SSE4.2 on its own so the rest of the binary keeps the baseline ISA;
// only called after the CPU check.
__attribute__((target("sse4.2"))) uint32_t UpdateHardware(uint32_t state, const unsigned char* p,
                                                          size_t n) {
  uint64_t s = state;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);  // unaligned-safe
    s = _mm_crc32_u64(s, word);
    p += 8;
    n -= 8;
  }
  auto s32 = static_cast<uint32_t>(s);
  while (n > 0) {
    s32 = _mm_crc32_u8(s32, *p++);
    --n;
  }
  return s32;
}
#endif

bool DetectHardware() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

const bool kHaveHardware = DetectHardware();

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

bool Crc32cHardwareAvailable() { return kHaveHardware; }

uint32_t Crc32cExtendSoftware(uint32_t crc, std::string_view data) {
  return ~UpdateSoftware(~crc, Bytes(data), data.size());
}

uint32_t Crc32cExtendHardware(uint32_t crc, std::string_view data) {
#if defined(__x86_64__)
  return ~UpdateHardware(~crc, Bytes(data), data.size());
#else
  return Crc32cExtendSoftware(crc, data);
#endif
}

uint32_t Crc32cExtend(uint32_t crc, std::string_view data) {
#if defined(__x86_64__)
  if (kHaveHardware) return ~UpdateHardware(~crc, Bytes(data), data.size());
#endif
  return ~UpdateSoftware(~crc, Bytes(data), data.size());
}

uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

}  // namespace rf::store::embedded

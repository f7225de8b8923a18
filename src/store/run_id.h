#pragma once
// RunId: the key every store files a run under. A UUIDv7-shaped, time-ordered 128-bit id that embeds the run's
// partition, so any shard routes GET /v1/runs/{id} to the owner without a
// lookup. Layout: 48-bit unix ms | ver 7 + 4-bit counter | 8-bit partition |
// variant + 62 random bits. Text: canonical 8-4-4-4-12 lowercase hex.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::store {

struct RunId {
  std::array<uint8_t, 16> bytes{};

  uint32_t partition() const { return bytes[7]; }
  int64_t unix_ms() const;
  std::string ToString() const;
  void Format(char out[36]) const;  // the canonical text, without a terminator
  friend bool operator==(const RunId&, const RunId&) = default;
  friend auto operator<=>(const RunId&, const RunId&) = default;
};

// A fresh id in `partition` (< kPartitions) at wall time `unix_ms`. Uses a
// per-thread generator: ids from one thread are strictly increasing.
RunId NewRunId(uint32_t partition, int64_t unix_ms);

// Parses the canonical text form; anything else is kInvalidArgument.
Result<RunId> ParseRunId(std::string_view text);

struct RunIdHash {
  size_t operator()(const RunId& id) const noexcept;
};

}  // namespace rf::store

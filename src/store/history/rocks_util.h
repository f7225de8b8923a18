#pragma once
// Private to store/history: what history_db.cc and history_totals.cc share.

#include <rocksdb/status.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::store::history::detail {

// Writers (Write, Remove, Expire, and Open's totals) may read a run's old summary to drop its
// old index keys and bytes; serialising them keeps two writers of one run from interleaving.
inline std::mutex g_write_mu;

inline void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

inline bool GetU64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  in.remove_prefix(8);
  return true;
}

inline Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return {};
  // Incomplete: a read with read_tier = kBlockCacheTier needed the disk (Tier::kMemory).
  Errc code = s.IsCorruption()                  ? Errc::kCorrupt
              : s.IsIncomplete()                ? Errc::kRetryLater
              : s.IsBusy() || s.IsTryAgain()    ? Errc::kUnavailable
                                                : Errc::kIo;
  return Error{code, "history " + std::string(what) + ": " + s.ToString()};
}

}  // namespace rf::store::history::detail

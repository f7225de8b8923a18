#include "http/router.h"

namespace rf::http {

std::string_view Params::Get(std::string_view name) const {
  for (size_t i = 0; i < count; ++i) {
    if (items[i].first == name) return items[i].second;
  }
  return {};
}

std::string_view AllowHeaderValue(uint8_t method_mask) {
  // Every subset of the kMethodCount methods, built once (thread-safe static init) so a 405
  // answer never allocates.
  static const auto kTable = [] {
    std::array<std::string, 1u << kMethodCount> table;
    for (unsigned mask = 0; mask < table.size(); ++mask) {
      for (unsigned i = 0; i < kMethodCount; ++i) {
        if ((mask & (1u << i)) == 0) continue;
        if (!table[mask].empty()) table[mask] += ", ";
        table[mask] += MethodName(static_cast<Method>(i));
      }
    }
    return table;
  }();
  return kTable[method_mask & ((1u << kMethodCount) - 1)];
}

}  // namespace rf::http

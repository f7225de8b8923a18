#include "engine/namespace_usage.h"

#include <cstring>
#include <functional>

namespace rf::engine {

NamespaceUsage::Slot* NamespaceUsage::Find(std::string_view ns, bool claim) const {
  if (ns.empty() || ns.size() > kMaxName) return nullptr;
  const size_t start = std::hash<std::string_view>{}(ns) % kSlots;
  for (size_t i = 0; i < kSlots; ++i) {
    Slot& s = slots_[(start + i) % kSlots];
    uint8_t state = s.state.load(std::memory_order_acquire);
    if (state == kFree) {
      if (!claim) return nullptr;  // probing stops at the first free slot: never inserted
      if (s.state.compare_exchange_strong(state, kClaimed, std::memory_order_acq_rel)) {
        std::memcpy(s.name, ns.data(), ns.size());
        s.size = static_cast<uint8_t>(ns.size());
        s.state.store(kReady, std::memory_order_release);
        return &s;
      }
    }
    // Another thread is writing this slot's name: wait for it (a few instructions).
    while ((state = s.state.load(std::memory_order_acquire)) == kClaimed) {
    }
    if (std::string_view(s.name, s.size) == ns) return &s;
  }
  if (claim) overflowed_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void NamespaceUsage::AddLive(std::string_view ns, int64_t delta) {
  if (Slot* s = Find(ns, true)) s->live.fetch_add(delta, std::memory_order_relaxed);
}

int64_t NamespaceUsage::Live(std::string_view ns) const {
  const Slot* s = Find(ns, false);
  return s ? s->live.load(std::memory_order_relaxed) : 0;
}

void NamespaceUsage::SetHistoryBytes(std::string_view ns, int64_t bytes) {
  // A namespace with no history needs no slot: the table stays for namespaces that have some.
  Slot* s = Find(ns, bytes != 0);
  if (s) s->history_bytes.store(bytes, std::memory_order_relaxed);
}

int64_t NamespaceUsage::HistoryBytes(std::string_view ns) const {
  const Slot* s = Find(ns, false);
  return s ? s->history_bytes.load(std::memory_order_relaxed) : 0;
}

}  // namespace rf::engine

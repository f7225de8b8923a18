#pragma once
// NamespaceUsage: live runs (and retained history bytes) per namespace, counted by every
// shard into one table of atomics, so a start anywhere sees the namespace's total at once
// (quotas: live runs; retained history bytes, set by the history store). Lock-free: a
// namespace takes a slot the first time it is counted (a CAS on the slot's hash) and keeps it;
// the table has a fixed number of slots (no allocation, no rehash), and a namespace that finds
// no free slot is not counted (overflowed(), rf_namespace_usage_overflow) rather than blocking.

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace rf::engine {

class NamespaceUsage {
 public:
  static constexpr size_t kSlots = 4096;
  static constexpr size_t kMaxName = 63;

  // Adds `delta` to the live runs of `ns` (any thread).
  void AddLive(std::string_view ns, int64_t delta);
  // The live runs of `ns` now; 0 for a namespace never counted (any thread).
  int64_t Live(std::string_view ns) const;
  // The bytes of finished-run history `ns` keeps now, as the history store last reported it
  // (store::HistoryStore::SetBytesSink; any thread). The quota retained_history_bytes.
  void SetHistoryBytes(std::string_view ns, int64_t bytes);
  int64_t HistoryBytes(std::string_view ns) const;
  // Whether a quota reads the history bytes (retained_history_bytes is set somewhere; any
  // thread): the first sum after a start is read at once, otherwise with the later ones (a
  // sum over a large PostgreSQL history costs the database a few hundred ms, better spent
  // on the start itself when only /metrics would see it).
  void WantHistoryBytes(bool wanted) { history_wanted_.store(wanted, std::memory_order_relaxed); }
  bool history_bytes_wanted() const { return history_wanted_.load(std::memory_order_relaxed); }
  // Namespaces that found no slot (counting for them is off).
  uint64_t overflowed() const { return overflowed_.load(std::memory_order_relaxed); }
  // Calls out(ns, live) for every namespace counted so far (any thread; a snapshot).
  template <class F>
  void ForEach(F&& out) const {
    for (const Slot& s : slots_)
      if (s.state.load(std::memory_order_acquire) == kReady)
        out(std::string_view(s.name, s.size), s.live.load(std::memory_order_relaxed));
  }

 private:
  enum : uint8_t { kFree, kClaimed, kReady };
  struct alignas(64) Slot {
    std::atomic<uint8_t> state{kFree};
    uint8_t size = 0;
    char name[kMaxName];
    std::atomic<int64_t> live{0};
    std::atomic<int64_t> history_bytes{0};
  };
  // The slot of `ns`; claims one when `claim`. Null: not counted (or table full).
  Slot* Find(std::string_view ns, bool claim) const;

  mutable std::array<Slot, kSlots> slots_{};
  mutable std::atomic<uint64_t> overflowed_{0};
  std::atomic<bool> history_wanted_{false};
};

}  // namespace rf::engine

#pragma once
// PermitTable: the permits of step-level concurrency limits (an http step's "concurrency"
// {key, limit, scope?}) whose home is this shard. A limit id (PermitId: scope, then key) hashes
// to one home shard of the instance (PermitHome), so every permit of one id is counted in one
// table and the count is exact with no lock shared between shards: attempts on other shards ask
// the home by message (coordinator_permits.cc). Pure and synchronous: no I/O, no messaging.
//
// Per id: the permits in use, the limit (of the latest request: steps sharing a scope should
// name the same limit), and a FIFO of waiters. Ids are independent: a full id never holds back
// another's waiters (fairness across keys, FIFO within one). The waiters of all ids together are
// bounded (`max_waiting`): a request past it is refused (kFull) and not queued. An id with no
// permit in use and no waiter is dropped, so the table holds at most as many ids as permits in
// use plus waiters. Nothing is durable: after a restart attempts ask again.
//
// Gated (a cluster sharing its permits, store/permit_share.h): a permit is granted only within
// the id's `allowance`, the leases the cluster gave this home (Allow), and each release gives its
// lease back (the allowance shrinks with it), so the home asks the cluster again for its next
// waiter and the daemons take turns. Wants tells the home when to ask.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "obs/metrics.h"

namespace rf::engine {

constexpr int64_t kMaxStepConcurrencyLimit = 100'000;
constexpr size_t kDefaultMaxPermitWaiters = 100'000;  // per home shard (--step-permit-waiters)

// Who asked: the shard the attempt runs on and its ticket there (unique on that shard).
struct PermitWaiter {
  unsigned shard = 0;
  uint64_t ticket = 0;
  bool operator==(const PermitWaiter&) const = default;
};

// One id as the API and /metrics show it.
struct PermitKeyView {
  std::string scope;  // PermitId's first part
  std::string key;
  int64_t in_use = 0;
  int64_t waiting = 0;
  int64_t limit = 0;
  unsigned shard = 0;  // the home shard
};

// scope '\n' key: a step without "scope" has the scope "<qualified workflow>#<step id>"; one with
// "scope": "name" has "<namespace>/name" (shared by every step of the namespace naming it).
std::string PermitScope(std::string_view qualified_workflow, std::string_view step_id,
                        std::string_view scope_name);
std::string PermitId(std::string_view scope, std::string_view key);
// The home shard of `id` among `shards` (a stable hash: every shard computes the same).
unsigned PermitHome(std::string_view id, size_t shards);

// The busiest ids of one home shard for /metrics (rf_step_permits_waiting{scope,key}): written by
// the home shard (Publish, at most once a second), read by /metrics on any shard (Read). A
// sequence lock over atomic words: the reader retries while a publish is under way, nobody
// blocks, no lock is shared. Labels are cut at kLabelBytes (at a UTF-8 boundary).
class PermitTop {
 public:
  static constexpr size_t kSlots = 10;
  static constexpr size_t kLabelBytes = 128;  // scope '\n' key
  struct Row {
    std::string scope;
    std::string key;
    int64_t waiting = 0;
    int64_t in_use = 0;
  };
  void Publish(const std::vector<PermitKeyView>& busiest);  // at most kSlots used
  std::vector<Row> Read() const;  // empty if a publish kept overlapping (it will not for long)

 private:
  static constexpr size_t kWords = kLabelBytes / 8;
  struct Slot {
    std::array<std::atomic<uint64_t>, kWords> label{};
    std::atomic<uint32_t> label_size{0};
    std::atomic<int64_t> waiting{0};
    std::atomic<int64_t> in_use{0};
  };
  std::atomic<uint64_t> version_{0};
  std::atomic<uint32_t> count_{0};
  std::array<Slot, kSlots> slots_{};
};

// One shard's part of the rf_step_permit* families (ShardEngineStats::permits).
struct PermitStats {
  obs::Gauge waiting;      // home: attempts queued for a permit of an id homed here
  obs::Gauge in_use;       // home: permits held of ids homed here
  obs::Gauge ids;          // home: ids with permits in use or waiters
  obs::Gauge asking;       // this shard's attempts waiting for a permit (any home)
  obs::Counter granted;    // home: permits granted
  obs::Counter refused;    // home: requests refused, the waiters' bound reached
  obs::Counter cancelled;  // home: waiters whose run ended (or moved) before their turn
  // A cluster sharing permits (coordinator_permit_share.cc), all home:
  obs::Gauge leases;           // leases of the cluster held
  obs::Counter lease_asks;     // asks for a lease (each one Redis round trip)
  obs::Counter lease_waits;    // asks answered "wait in line"
  obs::Counter lease_errors;   // asks that failed (Redis away or slow)
  obs::Counter fallback;       // permits granted without a lease, Redis away (the instance's split)
  PermitTop top;           // home: the busiest ids
};

class PermitTable {
 public:
  enum class Outcome : uint8_t { kGranted, kQueued, kFull };

  explicit PermitTable(size_t max_waiting = kDefaultMaxPermitWaiters)
      : max_waiting_(max_waiting == 0 ? 1 : max_waiting) {}
  PermitTable(const PermitTable&) = delete;
  PermitTable& operator=(const PermitTable&) = delete;

  // A permit of `id` for `w`: granted at once when the id has one free and nobody waits (a
  // request behind waiters queues even when the limit was raised), queued otherwise, or
  // refused when the table already holds max_waiting waiters. `limit` becomes the id's limit.
  Outcome Acquire(const std::string& id, int64_t limit, PermitWaiter w);
  // A permit of `id` ends: the waiters it (and a raised limit) lets through are appended to
  // `granted`, oldest first; each now holds a permit.
  void Release(const std::string& id, std::vector<PermitWaiter>& granted);
  // `w` no longer waits (its run ended): its place is dropped. False when it was not waiting
  // (granted meanwhile: the grant on its way is then released by the asker).
  bool Cancel(const std::string& id, PermitWaiter w);
  // Every waiter of shard `shard` leaves (that shard stops asking, e.g. it closes). Counted.
  size_t CancelShard(unsigned shard);

  // Gated mode (before any Acquire).
  void SetGated(bool gated) { gated_ = gated; }
  bool gated() const { return gated_; }
  // Gated: one more lease for `id`; the waiters it lets through are appended to `granted`. False
  // (nothing changes) when no waiter of `id` could use it: give the lease back.
  bool Allow(const std::string& id, std::vector<PermitWaiter>& granted);
  // Gated: `id` has a waiter that a lease would let through.
  bool Wants(const std::string& id) const;
  int64_t InUse(const std::string& id) const;
  int64_t Limit(const std::string& id) const;  // 1 for an id not held

  size_t waiting() const { return waiting_; }
  int64_t in_use() const { return in_use_; }
  size_t ids() const { return ids_.size(); }
  size_t max_waiting() const { return max_waiting_; }
  // Ids whose scope is one of `scopes` (all when empty), busiest (waiting, then in use) first,
  // at most `max`.
  std::vector<PermitKeyView> Views(const std::vector<std::string>& scopes, size_t max,
                                   unsigned shard) const;

 private:
  struct Id {
    int64_t in_use = 0;
    int64_t limit = 1;
    int64_t allowance = 0;  // gated: leases held (in_use at most this)
    std::deque<PermitWaiter> queue;
  };
  void GrantWhileFree(Id& id, std::vector<PermitWaiter>& granted);
  void MaybeDrop(std::unordered_map<std::string, Id>::iterator it);

  bool Free(const Id& n) const { return n.in_use < n.limit && (!gated_ || n.in_use < n.allowance); }

  bool gated_ = false;
  size_t max_waiting_;
  size_t waiting_ = 0;
  int64_t in_use_ = 0;
  std::unordered_map<std::string, Id> ids_;
};

}  // namespace rf::engine

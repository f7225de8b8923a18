#pragma once
// MemberDirectory: a fast view of a cluster's live instances beside the database's beat rows.
// Each daemon keeps an entry with a TTL there (Redis: store/redis/redis_members.h), renews it
// several times a second and deletes it once it has handed its partitions over, so the others
// see it leave or die sooner than its database row goes stale. The view only narrows who counts
// as live on the ring (engine/membership.h, LiveMembers); partitions are still taken through the
// database's leases and fencing epochs, so a wrong view costs a takeover attempt, never a
// second owner.
//
// Shard 0 only: Start, Live, changes and Leave on its thread. up() and RenderMetrics: any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reactor/task.h"

namespace rf::store {

class MemberDirectory {
 public:
  virtual ~MemberDirectory() = default;
  // Starts beating this instance's entry and reading the others'. Call once this instance's
  // database row exists (the engine is open): an entry never precedes the row, so a peer that
  // sees the entry appear and reads the database at once finds the row.
  virtual void Start() = 0;
  // The ids of the live entries, sorted; nullopt while the view cannot be trusted: not started,
  // the directory unreachable (or its last read too old), or reached again less than a TTL ago
  // (entries of live instances may not be back yet: a Redis that restarted empty).
  virtual std::optional<std::vector<std::string>> Live() const = 0;
  // Grows whenever what Live() answers changes: the engine rebalances at once instead of at
  // its next round.
  virtual uint64_t changes() const = 0;
  // Stops beating and deletes this instance's entry. After the partitions were handed over
  // (the peers that see the entry go take them at once). Suspends, bounded; idempotent.
  virtual reactor::Task<void> Leave() = 0;
  // False while beats fail (the directory is away): membership comes from the database alone.
  virtual bool up() const = 0;
  // Appends the directory's metric families.
  virtual void RenderMetrics(std::string&) const {}
};

}  // namespace rf::store

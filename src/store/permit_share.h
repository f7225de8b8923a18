#pragma once
// PermitShare: the permits of step-level concurrency limits (engine/permit_table.h) counted over
// a cluster (--redis-url), so an http step's "concurrency" limit holds for every daemon
// together, not for each. Each permit in use anywhere is a lease that names its holder (a shard
// of one instance) and ends by itself lease_ttl after its last renewal, so a daemon that dies
// holds nothing for longer than that. Holders that want a permit while none is free stand in
// one line per id, oldest first; a holder served leaves it (and joins at the back if it wants
// another), so daemons take turns. A holder that stops asking leaves the line after lease_ttl.
// (kLeaseTtl by default.)
//
// Adapter: store/redis (redis_permits.h). Shard-local: one per shard, Start, calls and Close on
// its thread; every call suspends and is bounded by the adapter's deadline (a slow or absent
// backend is an error: the caller falls back to its share of the limit).

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/task.h"

namespace rf::store {

class PermitShare {
 public:
  static constexpr Nanos kLeaseTtl = 10 * kSeconds;  // the default lease_ttl

  virtual ~PermitShare() = default;
  virtual void Start() = 0;
  // How long a lease lasts after its last renewal (the caller renews every lease_ttl / 4), and
  // how long a holder that stopped asking keeps its place in a line.
  virtual Nanos lease_ttl() const = 0;
  // A lease `lease` (unique among this holder's) of `id`, whose limit is `limit`: true when
  // fewer than `limit` leases are held over the cluster and no holder ahead in the line is
  // passed; false leaves (or keeps) this holder in the line. `give_back`, if not empty, is a
  // lease of this holder ended first, in the same step (a hand-over that keeps the turn order).
  virtual reactor::Task<Result<bool>> Acquire(std::string id, int64_t limit, std::string lease,
                                              std::string give_back) = 0;
  // Ends this holder's lease of `id`, and takes it out of the id's line if `leave_line`.
  virtual reactor::Task<Status> Release(std::string id, std::string lease, bool leave_line) = 0;
  // Renews `leases` of `id` (all this holder's: they last lease_ttl from now; one the backend
  // lost, e.g. a restarted server, is held again).
  virtual reactor::Task<Status> Renew(std::string id, std::vector<std::string> leases) = 0;
  virtual reactor::Task<void> Close() = 0;
};

}  // namespace rf::store

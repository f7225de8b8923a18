#pragma once
// Which partitions this instance should hold, given the live members of its
// cluster: the consistent-hash ring (base/hash_ring.h) over instances × shards,
// each (instance, shard) pair a node, so an instance's share follows its shard
// count and a member joining or leaving moves only the partitions it gains or
// loses. Every instance computes the same answer from the same member list.
// Within an instance a partition's shard stays the one its own ring of shards
// gives (Engine::OwnerOf): only the instance level moves.

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.h"

namespace rf::engine {

// [partition] -> whether the member marked `self` should hold it. Without a
// `self` member (its beat is not written yet) every partition is false; so for
// a standby while a member without --standby is alive.
std::vector<bool> PartitionsOfSelf(const std::vector<store::Member>& members);

// Right after the database was away, every member's beat is as stale as the outage was long:
// the first to reconnect would read the others as gone and take their (expired) leases, and
// they would stop (fenced) on their next commit. So for a grace time after a failed read the
// members of the last good read stay (`before`, sorted by id) beside those read now (`beats`,
// sorted by id); a member that really died meanwhile leaves once the grace is over. Sorted by
// id, each id once (the entry read now wins).
std::vector<store::Member> KeepThroughOutage(std::vector<store::Member> beats,
                                             const std::vector<store::Member>& before);

// The members the ring is built over: those of the database's beats (`beats`: PostgreSQL, the
// source of truth, Members()) that also have a live entry in the directory's view (`fast`:
// Redis heartbeats, sorted ids), this instance always included. Without a view (no directory,
// or it cannot be trusted now: Redis away) the beats alone. So a member that left or died
// drops off the ring as soon as its Redis entry is gone, and one joins only once both know it;
// the partitions themselves still move only through the database's leases.
std::vector<store::Member> LiveMembers(std::vector<store::Member> beats,
                                       const std::vector<std::string>* fast);

}  // namespace rf::engine

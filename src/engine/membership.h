#pragma once
// Which partitions this instance should hold, given the live members of its
// cluster: the consistent-hash ring (base/hash_ring.h) over instances × shards,
// each (instance, shard) pair a node, so an instance's share follows its shard
// count and a member joining or leaving moves only the partitions it gains or
// loses. Every instance computes the same answer from the same member list.
// Within an instance a partition's shard stays the one its own ring of shards
// gives (Engine::OwnerOf): only the instance level moves.

#include <cstdint>
#include <vector>

#include "store/store.h"

namespace rf::engine {

// [partition] -> whether the member marked `self` should hold it. Without a
// `self` member (its beat is not written yet) every partition is false; so for
// a standby while a member without --standby is alive.
std::vector<bool> PartitionsOfSelf(const std::vector<store::Member>& members);

}  // namespace rf::engine

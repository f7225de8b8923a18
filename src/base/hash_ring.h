#pragma once
// Partitioning and the consistent-hash ring that every layer reuses: a key
// (run id, workflow + idempotency key) maps to one of kPartitions partitions
// with PartitionOf, and a HashRing maps partitions to owners (shards now,
// instances later).
//
// PartitionOf is part of the durable format: run ids embed their partition and
// stored runs are found by it, so its algorithm and kPartitions must never
// change across versions. Tests pin exact values; a failing pin is a data
// migration, not a test to update.
//
// HashRing is immutable after construction and safe to share between threads.

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace rf {

constexpr uint32_t kPartitions = 256;

// 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
constexpr uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Fnv1a64(key), folded to 32 bits (h ^ h >> 32) so the high bits count, then
// taken modulo kPartitions. Frozen: see the file comment.
constexpr uint32_t PartitionOf(std::string_view key) {
  uint64_t h = Fnv1a64(key);
  return static_cast<uint32_t>(h ^ (h >> 32)) % kPartitions;
}

// The splitmix64 finaliser: a bijective 64-bit mix with full avalanche.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class HashRing {
 public:
  static constexpr int kDefaultVnodes = 64;

  // `nodes` must not be empty (RF_CHECK); duplicates are ignored. Each node
  // gets `vnodes` (>= 1) points whose positions depend only on (node, vnode),
  // so adding or removing a node moves only the partitions it gains or loses.
  explicit HashRing(std::vector<uint32_t> nodes, int vnodes = kDefaultVnodes);

  // The node owning `partition`: the first ring point at or after the
  // partition's hash, wrapping around. O(log(nodes * vnodes)).
  uint32_t Owner(uint32_t partition) const;

  // The distinct nodes, ascending.
  const std::vector<uint32_t>& nodes() const { return nodes_; }
  int vnodes() const { return vnodes_; }

 private:
  struct Point {
    uint64_t hash;
    uint32_t node;
  };

  std::vector<uint32_t> nodes_;
  int vnodes_;
  std::vector<Point> points_;  // sorted by (hash, node)
};

}  // namespace rf

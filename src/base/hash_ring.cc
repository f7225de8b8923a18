#include "base/hash_ring.h"

#include <algorithm>

#include "base/check.h"

namespace rf {
namespace {

// Separate salts keep node points and partition positions in unrelated parts
// of Mix64's input space: without them partition p would sit exactly on the
// point of (node 0, vnode p).
constexpr uint64_t kPointSalt = 0x5ca1ab1e0ddba11ull;
constexpr uint64_t kPartitionSalt = 0xc0ffee15deadbeefull;

uint64_t PointHash(uint32_t node, uint32_t vnode) {
  return Mix64(((uint64_t{node} << 32) | vnode) ^ kPointSalt);
}

uint64_t PartitionHash(uint32_t partition) { return Mix64(uint64_t{partition} ^ kPartitionSalt); }

}  // namespace

HashRing::HashRing(std::vector<uint32_t> nodes, int vnodes) : vnodes_(vnodes) {
  RF_CHECK(!nodes.empty());
  RF_CHECK(vnodes >= 1);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  nodes_ = std::move(nodes);

  points_.reserve(nodes_.size() * static_cast<size_t>(vnodes));
  for (uint32_t node : nodes_)
    for (int v = 0; v < vnodes; ++v)
      points_.push_back({PointHash(node, static_cast<uint32_t>(v)), node});
  // Ties on the hash (astronomically rare) break by node so the order, and so
  // every owner, is independent of the order the nodes were given in.
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.node < b.node;
  });
}

uint32_t HashRing::Owner(uint32_t partition) const {
  uint64_t h = PartitionHash(partition);
  auto it = std::lower_bound(points_.begin(), points_.end(), h,
                             [](const Point& p, uint64_t key) { return p.hash < key; });
  if (it == points_.end()) it = points_.begin();
  return it->node;
}

}  // namespace rf

#pragma once
// Graph algorithms over a step dependency list, kept apart from JSON so they
// are tested on their own. Nodes are indexes 0..n-1; deps[i] lists the nodes
// that node i depends on (must run first). All functions are iterative, so a
// 1,000-step chain needs no recursion depth, and O(V + E) unless noted.

#include <cstdint>
#include <span>
#include <vector>

namespace rf::engine {

struct DagOrder {
  // Dependencies before dependents; among the nodes ready at the same time the
  // smallest index comes first, so a list that is already in a valid order
  // keeps it. Holds every node iff `cycles` is empty.
  std::vector<uint32_t> order;
  // Disjoint cycles, each in execution order (every node depends on the one
  // before it, the first on the last), rotated to start at its smallest index.
  std::vector<std::vector<uint32_t>> cycles;
};

// deps[i] entries must be < deps.size() and not i; duplicates are tolerated.
DagOrder TopologicalOrder(std::span<const std::vector<uint32_t>> deps);

// Transitive dependencies of every node, as bitsets: O(V * E / 64) time and
// V^2 / 8 bytes (125 KB at 1,000 steps). Requires an acyclic graph and
// `order` from TopologicalOrder.
class Ancestry {
 public:
  Ancestry(std::span<const std::vector<uint32_t>> deps, std::span<const uint32_t> order);
  // Whether `node` depends on `ancestor`, directly or transitively.
  bool DependsOn(uint32_t node, uint32_t ancestor) const {
    return (bits_[node * words_ + ancestor / 64] >> (ancestor % 64)) & 1;
  }

 private:
  size_t words_;
  std::vector<uint64_t> bits_;  // row per node
};

}  // namespace rf::engine

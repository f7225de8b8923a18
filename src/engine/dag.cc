#include "engine/dag.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "base/check.h"

namespace rf::engine {

DagOrder TopologicalOrder(std::span<const std::vector<uint32_t>> deps) {
  const uint32_t n = static_cast<uint32_t>(deps.size());
  std::vector<uint32_t> pending(n);  // unplaced dependencies per node
  std::vector<std::vector<uint32_t>> dependents(n);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t d : deps[i]) {
      RF_CHECK(d < n && d != i);
      dependents[d].push_back(i);
      ++pending[i];
    }
  }

  // Kahn's algorithm with a min-heap on the index (V log V).
  DagOrder out;
  out.order.reserve(n);
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> ready;
  for (uint32_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  while (!ready.empty()) {
    uint32_t v = ready.top();
    ready.pop();
    out.order.push_back(v);
    for (uint32_t w : dependents[v])
      if (--pending[w] == 0) ready.push(w);
  }
  if (out.order.size() == n) return out;

  // Every unplaced node has an unplaced dependency, so following those edges
  // from any unplaced node must revisit a node: that closes a cycle. Walks
  // that run into an earlier walk stop, which keeps the cycles disjoint and
  // the whole search O(V + E).
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> walk_of(n, kNone);
  std::vector<uint32_t> pos_in_walk(n, 0);
  std::vector<uint32_t> path;
  for (uint32_t start = 0; start < n; ++start) {
    if (pending[start] == 0 || walk_of[start] != kNone) continue;
    path.clear();
    uint32_t v = start;
    while (true) {
      walk_of[v] = start;
      pos_in_walk[v] = static_cast<uint32_t>(path.size());
      path.push_back(v);
      auto next =
          std::find_if(deps[v].begin(), deps[v].end(), [&](uint32_t d) { return pending[d] != 0; });
      RF_CHECK(next != deps[v].end());
      const uint32_t u = *next;
      if (walk_of[u] == start) {
        // path[pos(u)..] is the cycle with each node depending on the next;
        // reverse it into execution order.
        std::vector<uint32_t> cycle(path.begin() + pos_in_walk[u], path.end());
        std::reverse(cycle.begin(), cycle.end());
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
        out.cycles.push_back(std::move(cycle));
        break;
      }
      if (walk_of[u] != kNone) break;
      v = u;
    }
  }
  return out;
}

Ancestry::Ancestry(std::span<const std::vector<uint32_t>> deps, std::span<const uint32_t> order)
    : words_((deps.size() + 63) / 64), bits_(deps.size() * words_, 0) {
  RF_CHECK(order.size() == deps.size());
  for (uint32_t v : order) {
    uint64_t* row = &bits_[v * words_];
    for (uint32_t d : deps[v]) {
      const uint64_t* dep_row = &bits_[d * words_];
      for (size_t w = 0; w < words_; ++w) row[w] |= dep_row[w];
      row[d / 64] |= uint64_t{1} << (d % 64);
    }
  }
}

}  // namespace rf::engine

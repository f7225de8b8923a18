#include "engine/membership.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "base/hash_ring.h"

namespace rf::engine {

std::vector<bool> PartitionsOfSelf(const std::vector<store::Member>& members) {
  std::vector<bool> mine(kPartitions, false);
  std::vector<uint32_t> nodes;
  std::unordered_map<uint32_t, bool> is_self;  // node -> its member is this instance
  bool any_self = false;
  // Standbys are on the ring only while no other member is alive.
  const bool all_standby =
      std::all_of(members.begin(), members.end(), [](const store::Member& m) { return m.standby; });
  for (const store::Member& m : members) {
    if (m.standby && !all_standby) continue;
    any_self |= m.self;
    for (unsigned s = 0; s < m.shards; ++s) {
      // A node's ring points depend only on its name: stable while members come and go.
      const std::string name = m.id + '#' + std::to_string(s);
      const uint64_t h = Fnv1a64(name);
      const auto node = static_cast<uint32_t>(h ^ (h >> 32));
      // Two names on one node (about 1 in 4e9 per pair): the member listed first keeps it
      // (Members lists them by id, so every instance agrees).
      if (is_self.try_emplace(node, m.self).second) nodes.push_back(node);
    }
  }
  if (!any_self) return mine;
  const HashRing ring(std::move(nodes));
  for (uint32_t p = 0; p < kPartitions; ++p) mine[p] = is_self.at(ring.Owner(p));
  return mine;
}

std::vector<store::Member> LiveMembers(std::vector<store::Member> beats,
                                       const std::vector<std::string>* fast) {
  if (fast == nullptr) return beats;
  std::erase_if(beats, [fast](const store::Member& m) {
    return !m.self && !std::binary_search(fast->begin(), fast->end(), m.id);
  });
  return beats;
}

std::vector<store::Member> KeepThroughOutage(std::vector<store::Member> beats,
                                             const std::vector<store::Member>& before) {
  const size_t read = beats.size();
  for (const store::Member& m : before) {
    auto same = [&m](const store::Member& b) { return b.id == m.id; };
    if (std::none_of(beats.begin(), beats.begin() + static_cast<long>(read), same)) {
      store::Member kept = m;
      kept.self = false;  // this instance is in `beats` once its beat is written
      beats.push_back(std::move(kept));
    }
  }
  std::sort(beats.begin(), beats.end(),
            [](const store::Member& a, const store::Member& b) { return a.id < b.id; });
  return beats;
}

}  // namespace rf::engine

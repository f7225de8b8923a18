// Map steps: the helpers records and the API use. The decisions (Machine's map methods) are in
// machine_map.cc, the coordinator's half (running an item) in coordinator_map.cc.

#include "engine/map_step.h"

#include <atomic>

namespace rf::engine {
namespace {

std::atomic<int64_t> g_max_map_items{kDefaultMaxMapItems};

// Failed items listed in the API's progress object: enough to see what went wrong, bounded.
constexpr size_t kListedFailures = 10;

}  // namespace

void SetMaxMapItems(int64_t n) { g_max_map_items.store(n, std::memory_order_relaxed); }
int64_t MaxMapItems() { return g_max_map_items.load(std::memory_order_relaxed); }

json::Value ResolveMapItems(const Run& run, uint32_t step) {
  const Step& s = run.def->steps[step];
  RunStepResults results(run);
  json::Context ctx{&run.input, &results, run.id_text, run.def->name};
  return s.map->items.Evaluate(ctx);
}

std::string MapChildKey(const Run& parent, const Step& s, uint32_t attempt, uint32_t item) {
  return "map-item:" + parent.id_text + "/" + s.id + "/" + std::to_string(attempt) + "/" +
         std::to_string(item);
}

int64_t MapItemOfChildKey(std::string_view key) {
  if (!key.starts_with("map-item:")) return -1;
  const size_t slash = key.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == key.size()) return -1;
  int64_t n = 0;
  for (char c : key.substr(slash + 1)) {
    if (c < '0' || c > '9' || n > kMaxMapItemsLimit) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

json::Value MapProgressJson(const MapState& m, bool failures) {
  const int64_t total = m.total();
  json::Object o{{"total", total},
                 {"succeeded", static_cast<int64_t>(m.succeeded)},
                 {"failed", static_cast<int64_t>(m.failed)},
                 {"in_flight", static_cast<int64_t>(m.in_flight)},
                 {"pending", total - m.succeeded - m.failed - m.in_flight}};
  if (failures && m.failed) {
    json::Array list;
    for (uint32_t i = 0; i < m.total() && list.size() < kListedFailures; ++i) {
      if (m.state[i] != MapState::kFailed) continue;
      list.push_back(json::Object{{"index", static_cast<int64_t>(i)}, {"error", m.results[i]}});
    }
    o.emplace_back("failures", std::move(list));
  }
  return o;
}

}  // namespace rf::engine

// Map steps: the machine's decisions (which items go, when the step ends). engine/map_step.h
// has the durability rules.

#include "engine/machine.h"
#include "engine/map_step.h"
#include "json/value_limits.h"

namespace rf::engine {

void Machine::StartMap(uint32_t i) {
  StepState& st = run_.steps[i];
  const MapState& m = *st.map;
  const size_t attempt = st.attempts.size();
  if (!m.items.is_array()) {
    StepFailed(i, attempt,
               "map_items_not_array: items rendered to " +
                   std::string(json::TypeName(m.items.type())) + ", not an array",
               false, 0.5);
    return;
  }
  if (static_cast<int64_t>(m.total()) > MaxMapItems()) {
    StepFailed(i, attempt,
               "map_too_many_items: items rendered to " + std::to_string(m.total()) +
                   " items; the limit is " + std::to_string(MaxMapItems()) + " (--max-map-items)",
               false, 0.5);
    return;
  }
  MapProgress(i, false);  // within Advance: the caller's pass goes on to the dependents
}

void Machine::MapProgress(uint32_t i, bool advance) {
  StepState& st = run_.steps[i];
  MapState& m = *st.map;
  const MapSpec& spec = *run_.def->steps[i].map;
  while (m.in_flight < spec.concurrency && m.next < m.total()) {
    const uint32_t k = m.next++;
    if (m.state[k] != MapState::kPending) continue;
    // Memory only: a restart finds the item pending again and runs it again.
    m.state[k] = MapState::kInFlight;
    ++m.in_flight;
    effects_.items.push_back({i, k});
  }
  if (m.succeeded + m.failed < m.total()) return;
  json::Array out;
  out.reserve(m.total());
  for (uint32_t k = 0; k < m.total(); ++k) {
    if (!spec.collect) {
      out.push_back(m.results[k]);
    } else if (m.state[k] == MapState::kSucceeded) {
      out.push_back(json::Object{{"ok", true}, {"output", m.results[k]}});
    } else {
      out.push_back(json::Object{{"ok", false}, {"error", m.results[k]}});
    }
  }
  json::Value output(std::move(out));
  if (Status ok = json::CheckValue(output); !ok) {
    StepFailed(i, st.attempts.size(), "step output " + ok.error().context, false, 0.5);
    return;
  }
  Record r = Make(RecordType::kStepSucceeded, i);
  r.data = std::move(output);
  Commit(std::move(r));
  if (advance) Advance();
}

void Machine::MapItemSucceeded(uint32_t step, size_t attempt, uint32_t item, json::Value output) {
  if (IsTerminal(run_.status) || step >= run_.steps.size() || !Current(step, attempt)) return;
  const StepState& st = run_.steps[step];
  if (!st.map || item >= st.map->total() || st.map->state[item] != MapState::kInFlight) return;
  if (Status ok = json::CheckValue(output); !ok) {
    MapItemFailed(step, attempt, item, "item output " + ok.error().context);
    return;
  }
  Record r = Make(RecordType::kMapItemSucceeded, step);
  r.item = item;
  r.data = std::move(output);
  Commit(std::move(r));
  MapProgress(step, true);
}

void Machine::MapItemFailed(uint32_t step, size_t attempt, uint32_t item, std::string error) {
  if (IsTerminal(run_.status) || step >= run_.steps.size() || !Current(step, attempt)) return;
  const StepState& st = run_.steps[step];
  if (!st.map || item >= st.map->total() || st.map->state[item] != MapState::kInFlight) return;
  if (error.empty()) error = "failed";
  Record r = Make(RecordType::kMapItemFailed, step);
  r.item = item;
  r.text = error;
  Commit(std::move(r));
  if (!run_.def->steps[step].map->collect) {
    StepFailed(step, attempt, "item " + std::to_string(item) + " failed: " + error, false, 0.5);
    return;
  }
  MapProgress(step, true);
}

}  // namespace rf::engine

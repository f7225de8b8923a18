#pragma once
// Map steps: a step that runs a noop, transform, http or workflow step per item of an array, at
// most `concurrency` items at once, and succeeds with their outputs in item order.
//
// Durability: the attempt's items are resolved from the "items" template when kStepStarted is
// applied (live and at replay: the run's input and earlier outputs are the same), and each
// finished item is one record (kMapItemSucceeded / kMapItemFailed). Which items are in flight is
// memory only: after a restart Machine::Recover dispatches every unfinished item again, so items
// that finished are never re-run and items that were in flight run at least once more. A workflow
// item's child start carries the key "map-item:<parent>/<step>/<attempt>/<item>", so running it
// again finds the child created before.

#include <cstdint>
#include <string>

#include "engine/run.h"
#include "json/value.h"

namespace rf::engine {

// The daemon-wide bound on a map step's items (--max-map-items). Set once at start, before the
// shards run (EngineOptions::max_map_items); read by every shard.
void SetMaxMapItems(int64_t n);
int64_t MaxMapItems();

// The value step `step`'s "items" template renders to in `run` now.
json::Value ResolveMapItems(const Run& run, uint32_t step);

// The idempotency key of a workflow item's child run.
std::string MapChildKey(const Run& parent, const Step& s, uint32_t attempt, uint32_t item);
// The item index in a child's key made by MapChildKey, or -1.
int64_t MapItemOfChildKey(std::string_view key);

// A map step's progress for the API and events: {"total", "succeeded", "failed", "in_flight",
// "pending"}, and with `failures` the first failed items (O(items): the API's, not each event's).
json::Value MapProgressJson(const MapState& m, bool failures = true);

}  // namespace rf::engine

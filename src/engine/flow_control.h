#pragma once
// Flow control per key: a workflow's "concurrency" {key, limit} lets at most `limit` runs per
// value of the rendered key be live (started, not finished); the others are created `queued`
// and start in creation order as slots free.
//
// Where the count lives: a start of such a workflow is routed to the partition of
// (workflow, key value) (FlowPartition), so every run of one key is created, counted, queued and
// released by the one shard holding that partition (and in a cluster, by the one daemon holding
// it): the count is exact, and no state is shared between shards. Each key has its own slots,
// so a busy key never holds back another's runs (fairness is per key, FIFO inside a key).

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/definition.h"
#include "json/value.h"

namespace rf::engine {

constexpr size_t kMaxFlowKeyBytes = 256;  // longer rendered keys are cut (at a UTF-8 boundary)

// The key value a run of `def` (with a concurrency spec) with `input` is counted under.
std::string FlowKey(const Definition& def, const json::Value& input);
// The partition every run of (workflow, key) is created in.
uint32_t FlowPartition(std::string_view workflow, std::string_view key);
// What a coordinator files a key's count under: workflow '\n' key.
std::string FlowGateId(std::string_view workflow, std::string_view key);

// One key of a workflow, as GET /v1/workflows/{name}/concurrency shows it.
struct FlowKeyView {
  std::string workflow;
  std::string key;
  int64_t live = 0;
  int64_t queued = 0;
  int64_t limit = 0;  // of the newest version started under the key
  unsigned shard = 0;
};

}  // namespace rf::engine

#include "engine/flow_control.h"

#include "base/hash_ring.h"

namespace rf::engine {

std::string FlowKey(const Definition& def, const json::Value& input) {
  if (!def.flow_controlled()) return {};
  // Rendered before the run exists (the start is routed by it): no run id, the same at replay.
  json::Context ctx{&input, nullptr, {}, def.name};
  const json::Template& t = def.concurrency  ? def.concurrency->key
                            : def.rate_limit ? def.rate_limit->key
                                             : def.debounce->key;
  std::string key = t.EvaluateString(ctx);
  if (key.size() > kMaxFlowKeyBytes) {
    size_t n = kMaxFlowKeyBytes;
    while (n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
    key.resize(n);
  }
  return key;
}

std::string FlowGateId(std::string_view workflow, std::string_view key) {
  std::string id(workflow);
  id += '\n';
  id += key;
  return id;
}

uint32_t FlowPartition(std::string_view workflow, std::string_view key) {
  // Not the idempotency keys' hash input (workflow '\n' key): a distinct prefix.
  std::string k = "concurrency\n";
  k += workflow;
  k += '\n';
  k += key;
  return PartitionOf(k);
}

}  // namespace rf::engine

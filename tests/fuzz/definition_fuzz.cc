// libFuzzer target: arbitrary bytes as a workflow definition (PUT /v1/workflows/{name})
// and as a journal record (replay). Neither may crash, hang or leak; a definition is
// either compiled or rejected with errors, never both, and a compiled one keeps the
// invariants the coordinator relies on (topological order, step limits).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "engine/definition.h"
#include "engine/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  rf::engine::Compiled c = rf::engine::CompileDefinition("fuzz", text, 1);
  RF_CHECK((c.def != nullptr) != !c.errors.empty());
  RF_CHECK(c.errors.size() <= rf::engine::kMaxValidationErrors);
  if (c.def) {
    RF_CHECK(!c.def->steps.empty() && c.def->steps.size() <= rf::engine::kMaxSteps);
    for (const auto& s : c.def->steps) {
      RF_CHECK(c.def->FindStep(s.id) == &s);
      for (uint32_t d : s.dependencies) RF_CHECK(d < s.index);
    }
  }
  auto r = rf::engine::DecodeRecord(text);
  if (r) {
    // A decoded record encodes again without a definition at hand.
    std::string again = rf::engine::EncodeRecord(*r, nullptr);
    RF_CHECK(rf::engine::DecodeRecord(again).has_value());
  }
  return 0;
}

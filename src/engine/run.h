#pragma once
// Run: the live state of one workflow run, owned by the run's owner shard.
// It changes only by applying Records (engine/record.h), live or on replay,
// so the durable log and the memory state cannot drift apart.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/buffer.h"
#include "engine/definition.h"
#include "json/value.h"
#include "store/run_id.h"
#include "store/run_status.h"
#include "trace/trace_context.h"

namespace rf::engine {

// The store's vocabulary is the engine's: runs are filed by RunId and listed by status.
using store::IsTerminal;
using store::NewRunId;
using store::ParseRunId;
using store::ParseRunStatus;
using store::RunId;
using store::RunIdHash;
using store::RunStatus;
using store::RunStatusName;

enum class StepStatus : uint8_t {
  kPending, kRunning, kRetrying, kWaiting, kSucceeded, kFailed, kSkipped, kCancelled
};
enum class Priority : uint8_t { kCritical, kDefault, kLow };

std::string_view StepStatusName(StepStatus s);
std::string_view PriorityName(Priority p);
bool ParsePriority(std::string_view s, Priority& out);
// Final step states: the step will not run again (unless the run is retried).
inline bool IsDone(StepStatus s) {
  return s == StepStatus::kSucceeded || s == StepStatus::kSkipped || s == StepStatus::kFailed ||
         s == StepStatus::kCancelled;
}

struct Attempt {
  int64_t started_ms = 0;
  int64_t finished_ms = 0;  // 0 while running
  std::string error;        // empty on success
};

// A map step's items in its current attempt (engine/map_step.h). Rebuilt from the records alone
// (kStepStarted resolves the items, kMapItemSucceeded/kMapItemFailed fill results), except the
// in-flight marks and child ids, which live in memory: after a restart the items that were in
// flight are pending again and run again (at least once).
struct MapState {
  enum ItemState : uint8_t { kPending, kInFlight, kSucceeded, kFailed };
  json::Value items;                  // the array the attempt resolved (null: not an array)
  std::vector<uint8_t> state;         // ItemState per item
  std::vector<json::Value> results;   // per item: its output, or its error text (failed)
  std::vector<std::string> children;  // workflow items: the child run ids seen (cancellation)
  uint32_t next = 0;                  // no item below it is pending
  uint32_t in_flight = 0;
  uint32_t succeeded = 0;
  uint32_t failed = 0;
  uint32_t total() const { return static_cast<uint32_t>(state.size()); }
};

struct StepState {
  StepStatus status = StepStatus::kPending;
  std::vector<Attempt> attempts;
  json::Value output;
  std::string error;   // the last attempt's error
  int64_t due_ms = 0;  // retrying: next attempt; waiting: delay end or approval timeout (0: none)
  std::string child_run;  // workflow step: the current attempt's child run id (empty: none yet)
  std::shared_ptr<MapState> map;  // map step: its current attempt's items (null: not started)
  // http step with "concurrency": the rendered key its attempt waits for a permit of (memory
  // only; the API shows the step "waiting"). Empty: not waiting.
  std::string permit_key;
};

// A child run's link to the workflow step that started it (kRunCreated's "parent").
struct ParentLink {
  RunId run;
  std::string run_text;  // run.ToString(); empty: the run has no parent
  std::string step;      // the parent's step id
  uint32_t attempt = 0;  // the parent step's attempt that started this run
  uint32_t depth = 0;    // this run's depth: 1 for a child of a top-level run
  bool valid() const { return !run_text.empty(); }
};

struct Run {
  RunId id;
  std::string id_text;  // id.ToString(), kept because records, templates and answers all need it
  std::shared_ptr<const Definition> def;
  json::Value input;
  Priority priority = Priority::kDefault;
  std::string idempotency_key;
  RunStatus status = RunStatus::kPending;
  std::vector<StepState> steps;
  json::Value output;
  std::string error;
  std::string failed_step;  // the step whose failure failed the run
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t finished_ms = 0;
  int64_t deadline_ms = 0;  // run timeout (0: none)
  uint64_t event_seq = 0;   // the last event's number
  // The caller's trace context from the start's `traceparent` (invalid: none; the run's trace id
  // is then its own id, engine/run_trace.h). Stored in the creation record.
  trace::TraceParent trace_parent;
  ParentLink parent;  // a child run of a workflow step: its parent (stored in the creation record)

  std::string_view workflow() const { return def->name; }
};

// Reads step results for templates and conditions.
class RunStepResults : public json::StepResults {
 public:
  explicit RunStepResults(const Run& run) : run_(run) {}
  const json::Value* Output(std::string_view id) const override;
  std::string_view Status(std::string_view id) const override;

 private:
  const Run& run_;
};

// The run as the API shows it: status, steps with attempts and timings, output/error.
void WriteRunJson(const Run& run, Buffer& out);
std::string RunJson(const Run& run);

}  // namespace rf::engine

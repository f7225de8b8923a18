#pragma once
// Record: one durable state change of a run. Records are what the journal
// (or PostgreSQL) stores; Apply() is the only code that changes a Run, both
// live and when replaying, and it reports the events the change produced.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/buffer.h"
#include "engine/run.h"
#include "json/value.h"

namespace rf::engine {

enum class RecordType : uint8_t {
  kRunCreated = 1,     // workflow, version, data = input, text = idempotency key, priority, due = deadline,
                       // trace_parent (the caller's traceparent, when valid),
                       // parent (a child run of a workflow step: its parent)
  kStepStarted = 2,    // step; a new attempt begins
  kStepSucceeded = 3,  // step, data = output
  kStepFailed = 4,     // step, text = error, due = next attempt (0: final)
  kStepSkipped = 5,    // step (its `when` was false)
  kStepWaiting = 6,    // step, due = delay end / approval timeout (0: none),
                       // text = the child run id (workflow steps)
  kRunFinished = 7,    // status, data = output, text = error
  kRunResumed = 8,     // failed steps go back to pending; due = the new run deadline (0: none)
  kRunQueued = 9,      // right after kRunCreated: held back by the concurrency limit, text = the key
  kRunDequeued = 10,   // a slot of its key freed: the run starts (status pending, then its steps)
  kMapItemSucceeded = 11,  // step, item, data = the item's output
  kMapItemFailed = 12,     // step, item, text = the item's error
};
constexpr int kLastRecordType = 12;

constexpr uint32_t kNoStep = UINT32_MAX;

struct Record {
  RecordType type = RecordType::kRunCreated;
  RunId run;
  int64_t at_ms = 0;
  uint32_t step = kNoStep;  // index into Definition::steps (kRunFinished: the failing step)
  uint32_t item = 0;        // kMapItem*: the item's index in the map step's array
  int64_t due_ms = 0;
  RunStatus status = RunStatus::kPending;
  Priority priority = Priority::kDefault;
  std::string workflow;
  int64_t version = 0;
  std::string text;
  json::Value data;
  trace::TraceParent trace_parent;  // kRunCreated only
  ParentLink parent;                // kRunCreated only
};

struct Event {
  uint64_t seq = 0;
  std::string type;  // "run.created", "step.started", ...
  int64_t at_ms = 0;
  std::string step;  // empty for run events
  json::Value data;
};

// Applies `r` to `run` (kRunCreated: `run` must be freshly initialised with its
// definition) and appends the events it produced, numbered from run.event_seq.
void Apply(Run& run, const Record& r, std::vector<Event>* events);

// A run from its log (store/run_log.h framing), every record applied in order. Errors:
// DecodeRecord's, or kCorrupt when the log has no creation record (its steps cannot be indexed).
Result<Run> RebuildRun(std::shared_ptr<const Definition> def, std::string_view log);
// The same for a caller that knows only the log: `def_of` is given the log's first record (its
// creation, naming the workflow and version) and answers the definition, or an error that
// RebuildRun returns.
using DefinitionOf = std::function<Result<std::shared_ptr<const Definition>>(const Record& first)>;
Result<Run> RebuildRun(std::string_view log, const DefinitionOf& def_of);

// Encoding for the journal: compact JSON (readable with standard tools). A record's data and text
// within the live limits (json/value_limits.h, which Machine keeps) encode to at most
// json::kMaxRecordBytes, nested at most json::kMaxDepth + json::kRecordEnvelopeDepth.
void EncodeRecord(const Record& r, const Run* run, Buffer& out);
std::string EncodeRecord(const Record& r, const Run* run);
// Decodes with the replay limits (json::kReplayMaxDepth/kReplayMaxBytes), which are above
// anything EncodeRecord produces. Errors: the parser's, or kCorrupt.
Result<Record> DecodeRecord(std::string_view bytes);
// The run id of an encoded record that DecodeRecord refuses, when its envelope is intact.
std::optional<RunId> PeekRunId(std::string_view bytes);

json::Value EventToJson(const Event& e, const RunId& run);
// The same without "run", for stores that keep events by run (FramesOf puts it back).
json::Value EventToJsonInRun(const Event& e);

}  // namespace rf::engine

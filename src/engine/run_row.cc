#include "engine/run_row.h"

#include "json/writer.h"

namespace rf::engine {

namespace {

uint32_t TimerStep(uint32_t step) { return step == kNoStep ? store::kRunTimer : step; }

// Whether this record ends a step's timer: a retry starting, a delay ending,
// an approval answered or timed out. Steps that never had a timer have none to end.
bool EndsStepTimer(const Run& run, const Record& r) {
  if (r.step >= run.steps.size()) return false;
  const StepType type = run.def->steps[r.step].type;
  switch (r.type) {
    case RecordType::kStepStarted:
      return run.steps[r.step].attempts.size() > 1;
    case RecordType::kStepSucceeded:
      return type == StepType::kDelay || (type == StepType::kApproval && run.def->steps[r.step].timeout);
    case RecordType::kStepFailed:
      return type == StepType::kApproval && r.due_ms == 0;
    default:
      return false;
  }
}

store::TimerChange TimerOf(const Run& run, const Record& r) {
  using Kind = store::TimerChange::Kind;
  if (r.due_ms && (r.type == RecordType::kStepWaiting || r.type == RecordType::kStepFailed ||
                   r.type == RecordType::kRunCreated || r.type == RecordType::kRunResumed))
    return {Kind::kArm, TimerStep(r.step), r.due_ms};
  if (r.step != kNoStep && EndsStepTimer(run, r)) return {Kind::kEnd, r.step, r.at_ms};
  if (r.type == RecordType::kRunFinished && run.deadline_ms) return {Kind::kEnd, store::kRunTimer, r.at_ms};
  return {};
}

}  // namespace

store::RunRow MakeRunRow(const Run& run, bool full, bool created, RowText& text) {
  store::RunRow row;
  row.id = run.id;
  if (!full) return row;
  row.id_text = run.id_text;
  row.workflow = run.def->name;
  row.version = run.def->version;
  row.priority = static_cast<int>(run.priority);
  row.idempotency_key = run.idempotency_key;
  row.status = run.status;
  row.created_ms = run.created_ms;
  row.updated_ms = run.updated_ms;
  row.finished_ms = run.finished_ms;
  row.deadline_ms = run.deadline_ms;
  if (created) {
    text.input = json::ToString(run.input);
    row.input = text.input;
  }
  if (IsTerminal(run.status)) {
    if (run.status == RunStatus::kSucceeded) {
      text.output = json::ToString(run.output);
      row.output = text.output;
    }
    if (!run.error.empty()) {
      json::Object e{{"message", run.error}};
      if (!run.failed_step.empty()) e.emplace_back("step", run.failed_step);
      text.error = json::ToString(json::Value(std::move(e)));
      row.error = text.error;
    }
  }
  return row;
}

store::AppendedRecord MakeAppended(const Run& run, const Record& r, uint32_t seq,
                                   std::string_view payload) {
  return {.seq = seq,
          .at_ms = r.at_ms,
          .resumed = r.type == RecordType::kRunResumed,
          .timer = TimerOf(run, r),
          .payload = payload};
}

}  // namespace rf::engine

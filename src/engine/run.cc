#include "engine/run.h"

namespace rf::engine {

std::string_view RunStatusName(RunStatus s) {
  static constexpr std::string_view kNames[] = {"pending",   "running", "waiting",
                                                "succeeded", "failed",  "cancelled"};
  return kNames[static_cast<size_t>(s)];
}

std::string_view StepStatusName(StepStatus s) {
  static constexpr std::string_view kNames[] = {"pending",   "running", "retrying", "waiting",
                                                "succeeded", "failed",  "skipped",  "cancelled"};
  return kNames[static_cast<size_t>(s)];
}

std::string_view PriorityName(Priority p) {
  static constexpr std::string_view kNames[] = {"critical", "default", "low"};
  return kNames[static_cast<size_t>(p)];
}

bool ParseRunStatus(std::string_view s, RunStatus& out) {
  for (uint8_t i = 0; i <= static_cast<uint8_t>(RunStatus::kCancelled); ++i) {
    if (RunStatusName(static_cast<RunStatus>(i)) == s) {
      out = static_cast<RunStatus>(i);
      return true;
    }
  }
  return false;
}

bool ParsePriority(std::string_view s, Priority& out) {
  for (uint8_t i = 0; i <= static_cast<uint8_t>(Priority::kLow); ++i) {
    if (PriorityName(static_cast<Priority>(i)) == s) {
      out = static_cast<Priority>(i);
      return true;
    }
  }
  return false;
}

const json::Value* RunStepResults::Output(std::string_view id) const {
  const Step* s = run_.def->FindStep(id);
  if (!s) return nullptr;
  const StepState& st = run_.steps[s->index];
  return st.status == StepStatus::kSucceeded ? &st.output : nullptr;
}

std::string_view RunStepResults::Status(std::string_view id) const {
  const Step* s = run_.def->FindStep(id);
  return s ? StepStatusName(run_.steps[s->index].status) : std::string_view{};
}

namespace {

json::Value Millis(int64_t ms) { return ms ? json::Value(ms) : json::Value(); }

}  // namespace

json::Value RunToJson(const Run& run) {
  json::Object o;
  o.emplace_back("id", run.id.ToString());
  o.emplace_back("workflow", std::string(run.def->name));
  o.emplace_back("version", run.def->version);
  o.emplace_back("status", std::string(RunStatusName(run.status)));
  o.emplace_back("priority", std::string(PriorityName(run.priority)));
  if (!run.idempotency_key.empty()) o.emplace_back("idempotency_key", run.idempotency_key);
  o.emplace_back("input", run.input);
  o.emplace_back("created_ms", run.created_ms);
  o.emplace_back("updated_ms", run.updated_ms);
  o.emplace_back("finished_ms", Millis(run.finished_ms));
  if (run.status == RunStatus::kSucceeded) o.emplace_back("output", run.output);
  if (!run.error.empty()) {
    json::Object err{{"message", run.error}};
    if (!run.failed_step.empty()) err.emplace_back("step", run.failed_step);
    o.emplace_back("error", std::move(err));
  }
  json::Array steps;
  for (const Step& def : run.def->steps) {
    const StepState& st = run.steps[def.index];
    json::Object s;
    s.emplace_back("id", def.id);
    s.emplace_back("type", std::string(StepTypeName(def.type)));
    s.emplace_back("status", std::string(StepStatusName(st.status)));
    json::Array attempts;
    for (const Attempt& a : st.attempts) {
      json::Object ao{{"started_ms", a.started_ms}, {"finished_ms", Millis(a.finished_ms)}};
      if (!a.error.empty()) ao.emplace_back("error", a.error);
      attempts.emplace_back(std::move(ao));
    }
    s.emplace_back("attempts", std::move(attempts));
    if (st.status == StepStatus::kSucceeded) s.emplace_back("output", st.output);
    if (!st.error.empty()) s.emplace_back("error", st.error);
    if (st.due_ms) s.emplace_back("due_ms", st.due_ms);
    steps.emplace_back(std::move(s));
  }
  o.emplace_back("steps", std::move(steps));
  return o;
}

}  // namespace rf::engine

#include "engine/run.h"

#include "base/tenancy.h"
#include "engine/map_step.h"
#include "json/writer.h"

namespace rf::engine {

std::string_view StepStatusName(StepStatus s) {
  static constexpr std::string_view kNames[] = {"pending",   "running", "retrying", "waiting",
                                                "succeeded", "failed",  "skipped",  "cancelled"};
  return kNames[static_cast<size_t>(s)];
}

std::string_view PriorityName(Priority p) {
  static constexpr std::string_view kNames[] = {"critical", "default", "low"};
  return kNames[static_cast<size_t>(p)];
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

// Writes `"key":` (with a leading comma unless first).
class ObjectWriter {
 public:
  explicit ObjectWriter(Buffer& out) : out_(out) { out_.Append('{'); }
  Buffer& Key(std::string_view k) {
    if (!first_) out_.Append(',');
    first_ = false;
    out_.Append('"');
    out_.Append(k);  // keys are ours: plain ASCII, nothing to escape
    out_.Append("\":");
    return out_;
  }
  void String(std::string_view k, std::string_view v) { json::WriteString(v, Key(k)); }
  void Int(std::string_view k, int64_t v) { Key(k).AppendSigned(v); }
  void MillisOrNull(std::string_view k, int64_t v) {
    if (v)
      Int(k, v);
    else
      Key(k).Append("null");
  }
  void Value(std::string_view k, const json::Value& v) { json::Write(v, Key(k)); }
  void End() { out_.Append('}'); }

 private:
  Buffer& out_;
  bool first_ = true;
};

}  // namespace

void WriteRunJson(const Run& run, Buffer& out) {
  ObjectWriter o(out);
  o.String("id", run.id_text);
  const ScopedName scoped = SplitQualified(run.def->name);
  o.String("workflow", scoped.name);
  o.String("namespace", scoped.ns);
  o.Int("version", run.def->version);
  o.String("status", RunStatusName(run.status));
  o.String("priority", PriorityName(run.priority));
  if (!run.idempotency_key.empty()) o.String("idempotency_key", run.idempotency_key);
  if (run.parent.valid()) {
    ObjectWriter p(o.Key("parent"));
    p.String("run_id", run.parent.run_text);
    p.String("step", run.parent.step);
    p.Int("depth", run.parent.depth);
    p.End();
  }
  o.Value("input", run.input);
  o.Int("created_ms", run.created_ms);
  o.Int("updated_ms", run.updated_ms);
  o.MillisOrNull("finished_ms", run.finished_ms);
  if (run.status == RunStatus::kSucceeded) o.Value("output", run.output);
  if (!run.error.empty()) {
    ObjectWriter e(o.Key("error"));
    e.String("message", run.error);
    if (!run.failed_step.empty()) e.String("step", run.failed_step);
    e.End();
  }
  Buffer& steps = o.Key("steps");
  steps.Append('[');
  for (const Step& def : run.def->steps) {
    if (def.index) steps.Append(',');
    const StepState& st = run.steps[def.index];
    ObjectWriter s(steps);
    s.String("id", def.id);
    s.String("type", StepTypeName(def.type));
    const bool permit_wait = !st.permit_key.empty() && st.status == StepStatus::kRunning;
    s.String("status", permit_wait ? StepStatusName(StepStatus::kWaiting) : StepStatusName(st.status));
    if (permit_wait && def.permits) {
      Buffer& w = s.Key("waiting_for");
      ObjectWriter wf(w);
      wf.String("reason", "concurrency_limit");
      wf.String("key", st.permit_key);
      if (!def.permits->scope.empty()) wf.String("scope", def.permits->scope);
      wf.Int("limit", def.permits->limit);
      wf.End();
    }
    Buffer& attempts = s.Key("attempts");
    attempts.Append('[');
    for (size_t i = 0; i < st.attempts.size(); ++i) {
      if (i) attempts.Append(',');
      ObjectWriter a(attempts);
      a.Int("started_ms", st.attempts[i].started_ms);
      a.MillisOrNull("finished_ms", st.attempts[i].finished_ms);
      if (!st.attempts[i].error.empty()) a.String("error", st.attempts[i].error);
      a.End();
    }
    attempts.Append(']');
    if (st.status == StepStatus::kSucceeded) s.Value("output", st.output);
    if (!st.error.empty()) s.String("error", st.error);
    if (st.due_ms) s.Int("due_ms", st.due_ms);
    if (!st.child_run.empty()) s.String("child_run_id", st.child_run);
    if (st.map && st.attempts.size()) s.Value("map", MapProgressJson(*st.map));
    s.End();
  }
  steps.Append(']');
  o.End();
}

std::string RunJson(const Run& run) {
  thread_local Buffer buf;
  buf.Clear();
  WriteRunJson(run, buf);
  return std::string(buf.view());
}

}  // namespace rf::engine

#include "engine/machine.h"

#include "json/utf8.h"
#include "json/value_limits.h"

namespace rf::engine {

Machine Machine::Create(Run& run, const RunId& id, json::Value input, Priority priority,
                        std::string idempotency_key, int64_t now_ms, std::vector<Record>& records,
                        std::vector<Event>* events, trace::TraceParent trace_parent,
                        ParentLink parent, const std::string* queued_key) {
  Machine m(run, now_ms, records, events);
  Record r = m.Make(RecordType::kRunCreated);
  r.run = id;
  r.workflow = run.def->name;
  r.version = run.def->version;
  r.data = std::move(input);
  r.priority = priority;
  r.text = std::move(idempotency_key);
  r.trace_parent = trace_parent;
  r.parent = std::move(parent);
  r.due_ms = run.def->timeout ? now_ms + run.def->timeout / kMillis : 0;
  m.Commit(std::move(r));
  if (run.deadline_ms) m.effects_.timers.push_back({kNoStep, run.deadline_ms});
  if (queued_key) {
    // Held back by the concurrency limit: no step starts until Dequeue. The run timeout counts
    // from the creation, time in the queue included.
    Record q = m.Make(RecordType::kRunQueued);
    q.text = *queued_key;
    m.Commit(std::move(q));
    return m;
  }
  m.Advance();
  return m;
}

Status Machine::Dequeue() {
  if (run_.status != RunStatus::kQueued)
    return Error{Errc::kConflict, "run is " + std::string(RunStatusName(run_.status)) + ", not queued"};
  Commit(Make(RecordType::kRunDequeued));
  Advance();
  return {};
}

Record Machine::Make(RecordType type, uint32_t step) const {
  Record r;
  r.type = type;
  r.run = run_.id;
  r.at_ms = now_;
  r.step = step;
  return r;
}

void Machine::Commit(Record r) {
  // Texts may quote what a server sent: kept valid UTF-8 (as the writer would make them) and
  // bounded, so the run reads the same live and after a replay.
  if (!json::IsValidUtf8(r.text)) r.text = json::ToValidUtf8(r.text);
  json::TruncateUtf8(r.text, json::kMaxTextBytes);
  Apply(run_, r, events_);
  records_.push_back(std::move(r));
}

bool Machine::Ready(uint32_t i) const {
  for (uint32_t d : run_.def->steps[i].dependencies) {
    StepStatus s = run_.steps[d].status;
    if (s != StepStatus::kSucceeded && s != StepStatus::kSkipped) return false;
  }
  return true;
}

json::Value Machine::StepInput(uint32_t step) const {
  const Step& s = run_.def->steps[step];
  if (s.dependencies.empty()) return run_.input;
  if (s.dependencies.size() == 1) return run_.steps[s.dependencies[0]].output;
  json::Object o;
  for (uint32_t d : s.dependencies) o.emplace_back(run_.def->steps[d].id, run_.steps[d].output);
  return o;
}

json::Value Machine::RunOutput() const {
  RunStepResults results(run_);
  json::Context ctx{&run_.input, &results, run_.id_text, run_.def->name};
  if (run_.def->output) return run_.def->output->Evaluate(ctx);
  json::Object o;
  for (uint32_t t : run_.def->terminals) {
    if (run_.steps[t].status == StepStatus::kSucceeded)
      o.emplace_back(run_.def->steps[t].id, run_.steps[t].output);
  }
  return o;
}

void Machine::StartStep(uint32_t i) {
  const Step& s = run_.def->steps[i];
  Commit(Make(RecordType::kStepStarted, i));
  switch (s.type) {
    case StepType::kDelay: {
      Record w = Make(RecordType::kStepWaiting, i);
      w.due_ms = now_ + s.delay / kMillis;
      effects_.timers.push_back({i, w.due_ms});
      Commit(std::move(w));
      return;
    }
    case StepType::kApproval: {
      Record w = Make(RecordType::kStepWaiting, i);
      if (s.timeout) {
        w.due_ms = now_ + s.timeout / kMillis;
        effects_.timers.push_back({i, w.due_ms});
      }
      Commit(std::move(w));
      return;
    }
    case StepType::kMap:
      StartMap(i);  // applying kStepStarted resolved the items
      return;
    default:
      effects_.execute.push_back(i);
  }
}

void Machine::Advance() {
  if (IsTerminal(run_.status)) return;
  RunStepResults results(run_);
  json::Context ctx{&run_.input, &results, run_.id_text, run_.def->name};
  // Steps are in topological order, so a skip is seen by its dependents in this same pass.
  for (const Step& s : run_.def->steps) {
    if (run_.steps[s.index].status != StepStatus::kPending || !Ready(s.index)) continue;
    if (s.when && !s.when->Evaluate(ctx)) {
      Commit(Make(RecordType::kStepSkipped, s.index));
      continue;
    }
    StartStep(s.index);
    if (IsTerminal(run_.status)) return;  // a map whose items are unusable failed the run
  }
  for (const StepState& st : run_.steps)
    if (!IsDone(st.status)) return;
  json::Value output = RunOutput();
  if (Status st = json::CheckValue(output); !st) {
    FinishRun(RunStatus::kFailed, "run output " + st.error().context);
    return;
  }
  Record r = Make(RecordType::kRunFinished);
  r.status = RunStatus::kSucceeded;
  r.data = std::move(output);
  Commit(std::move(r));
}

void Machine::FinishRun(RunStatus status, std::string error, uint32_t step) {
  for (const Step& s : run_.def->steps) {
    StepStatus st = run_.steps[s.index].status;
    if (st == StepStatus::kRunning && s.index != step) effects_.abort.push_back(s.index);
  }
  Record r = Make(RecordType::kRunFinished, step);
  r.status = status;
  r.text = std::move(error);
  Commit(std::move(r));
}

bool Machine::Current(uint32_t step, size_t attempt) const {
  const StepState& st = run_.steps[step];
  if (st.attempts.size() != attempt) return false;
  // A workflow step waits for its child run once it started it; its result may still come.
  return st.status == StepStatus::kRunning ||
         (st.status == StepStatus::kWaiting && run_.def->steps[step].type == StepType::kWorkflow);
}

void Machine::ChildStarted(uint32_t step, size_t attempt, std::string child_run) {
  if (IsTerminal(run_.status) || step >= run_.steps.size()) return;
  const StepState& st = run_.steps[step];
  if (st.status != StepStatus::kRunning || st.attempts.size() != attempt) return;
  Record r = Make(RecordType::kStepWaiting, step);
  r.text = std::move(child_run);
  Commit(std::move(r));
}

void Machine::StepSucceeded(uint32_t step, size_t attempt, json::Value output, double u01) {
  if (IsTerminal(run_.status) || step >= run_.steps.size()) return;
  if (!Current(step, attempt)) return;
  if (Status ok = json::CheckValue(output); !ok) {
    // A pure step computes the same output again: only an http step's next attempt may differ.
    const bool retryable = run_.def->steps[step].type == StepType::kHttp;
    StepFailed(step, attempt, "step output " + ok.error().context, retryable, u01);
    return;
  }
  Record r = Make(RecordType::kStepSucceeded, step);
  r.data = std::move(output);
  Commit(std::move(r));
  Advance();
}

void Machine::StepFailed(uint32_t step, size_t attempt, std::string error, bool retryable,
                         double u01) {
  if (IsTerminal(run_.status) || step >= run_.steps.size()) return;
  if (!Current(step, attempt)) return;
  const RetryPolicy& policy = run_.def->steps[step].retry;
  Record r = Make(RecordType::kStepFailed, step);
  r.text = error;
  if (retryable && policy.ShouldRetry(static_cast<int>(attempt))) {
    r.due_ms = now_ + std::max<int64_t>(policy.Backoff(static_cast<int>(attempt), u01) / kMillis, 1);
    effects_.timers.push_back({step, r.due_ms});
    Commit(std::move(r));
    return;
  }
  Commit(std::move(r));
  FinishRun(RunStatus::kFailed, "step '" + run_.def->steps[step].id + "' failed: " + error, step);
}

void Machine::TimerFired(const Timer& t) {
  if (IsTerminal(run_.status)) return;
  if (t.step == kNoStep) {
    if (run_.deadline_ms && now_ >= run_.deadline_ms) FinishRun(RunStatus::kFailed, "run timed out");
    return;
  }
  if (t.step >= run_.steps.size()) return;
  StepState& st = run_.steps[t.step];
  if (st.due_ms == 0 || now_ < st.due_ms) return;  // stale or early
  const Step& s = run_.def->steps[t.step];
  if (st.status == StepStatus::kRetrying) {
    StartStep(t.step);
  } else if (st.status == StepStatus::kWaiting && s.type == StepType::kDelay) {
    Commit(Make(RecordType::kStepSucceeded, t.step));
    Advance();
  } else if (st.status == StepStatus::kWaiting && s.type == StepType::kApproval) {
    Record r = Make(RecordType::kStepFailed, t.step);
    r.text = "approval timed out";
    Commit(std::move(r));
    FinishRun(RunStatus::kFailed, "step '" + s.id + "' failed: approval timed out", t.step);
  }
}

Status Machine::Signal(std::string_view name, json::Value payload) {
  const Step* s = run_.def->FindStep(name);
  if (!s || s->type != StepType::kApproval)
    return Error{Errc::kNotFound, "no approval step named '" + std::string(name) + "'"};
  if (IsTerminal(run_.status))
    return Error{Errc::kConflict, "run is " + std::string(RunStatusName(run_.status))};
  StepStatus st = run_.steps[s->index].status;
  if (st != StepStatus::kWaiting) {
    return Error{Errc::kConflict, "step '" + s->id + "' is " + std::string(StepStatusName(st)) +
                                      ", not waiting for a signal"};
  }
  if (Status ok = json::CheckValue(payload); !ok)
    return Error{ok.error().code, "signal payload " + ok.error().context};
  Record r = Make(RecordType::kStepSucceeded, s->index);
  r.data = std::move(payload);
  Commit(std::move(r));
  Advance();
  return {};
}

Status Machine::Cancel(std::string reason) {
  if (IsTerminal(run_.status))
    return Error{Errc::kConflict, "run is already " + std::string(RunStatusName(run_.status))};
  FinishRun(RunStatus::kCancelled, std::move(reason));
  return {};
}

Status Machine::Resume() {
  if (run_.status != RunStatus::kFailed) {
    return Error{Errc::kConflict,
                 "only failed runs can be retried; this one is " + std::string(RunStatusName(run_.status))};
  }
  Record r = Make(RecordType::kRunResumed);
  if (run_.def->timeout) {
    // A resumed run gets its run timeout afresh; the old deadline may have passed.
    r.due_ms = now_ + run_.def->timeout / kMillis;
    effects_.timers.push_back({kNoStep, r.due_ms});
  }
  Commit(std::move(r));
  Advance();
  return {};
}

void Machine::Recover(bool rearm_timers) {
  if (IsTerminal(run_.status)) return;
  for (const Step& s : run_.def->steps) {
    StepState& st = run_.steps[s.index];
    if (s.type == StepType::kMap && st.status == StepStatus::kRunning && st.map) {
      // Finished items stay finished; the ones that were in flight run again.
      MapProgress(s.index, false);  // the Advance below starts what its end made ready
      if (IsTerminal(run_.status)) return;
      continue;
    }
    if (s.type == StepType::kWorkflow &&
        (st.status == StepStatus::kRunning || st.status == StepStatus::kWaiting)) {
      // The same attempt again: its start carries the same idempotency key, so it finds the
      // child it may have started already (and that child's end, if it ended meanwhile).
      effects_.execute.push_back(s.index);
      continue;
    }
    if (st.status == StepStatus::kRunning) {
      // The attempt may have had its side effect: it counts, and the retry
      // carries the same Idempotency-Key.
      StepFailed(s.index, st.attempts.size(), "interrupted by a restart", true, 0.5);
      if (IsTerminal(run_.status)) return;
      continue;  // StepFailed armed its retry timer
    }
    if (rearm_timers && (st.status == StepStatus::kRetrying || st.status == StepStatus::kWaiting) &&
        st.due_ms)
      effects_.timers.push_back({s.index, st.due_ms});
  }
  if (rearm_timers && run_.deadline_ms) effects_.timers.push_back({kNoStep, run_.deadline_ms});
  if (run_.status == RunStatus::kQueued) return;  // its steps wait for Dequeue
  Advance();
}

}  // namespace rf::engine

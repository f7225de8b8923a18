#pragma once
// Machine: the decisions of a run's state machine. Each call looks at the run,
// decides what happens, and records it: every change is a Record applied to
// the run at once and appended to `records` (for the caller to commit). What
// must happen after the commit is collected in effects(): steps to execute,
// timers to arm, in-flight steps to abort.
//
// Pure: no I/O, no clocks (the caller passes now), no randomness (the caller
// passes the jitter draw). The coordinator owns the I/O around it.
//
// Semantics (documented for users in the README):
// - A step is ready when all its dependencies succeeded or were skipped; its
//   `when` (if any) then decides between starting it and skipping it.
// - A step's input is the run input for a root, the dependency's output for a
//   single dependency, else an object of dependency outputs by step id.
// - noop outputs its input; transform its template; delay null; approval the
//   signal payload.
// - Every value recorded stays within the live limits (json/value_limits.h): an
//   output over them fails its step, a run output over them fails the run,
//   texts are made valid UTF-8 and cut at json::kMaxTextBytes.
// - The first step failure that cannot be retried fails the run; steps still in
//   flight are aborted and the rest cancelled. Resume() restarts a failed run
//   from its failed and cancelled steps.

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/record.h"
#include "engine/run.h"

namespace rf::engine {

struct Timer {
  uint32_t step = kNoStep;  // kNoStep: the run deadline
  int64_t due_ms = 0;
};

struct MapItemRef {
  uint32_t step = 0;
  uint32_t item = 0;
};

struct Effects {
  std::vector<uint32_t> execute;  // attempt recorded: run the step once the records are durable
  std::vector<Timer> timers;
  std::vector<uint32_t> abort;  // in-flight steps to stop (their results will be ignored)
  std::vector<MapItemRef> items;  // map items marked in flight: run each once durable
};

class Machine {
 public:
  Machine(Run& run, int64_t now_ms, std::vector<Record>& records, std::vector<Event>* events)
      : run_(run), now_(now_ms), records_(records), events_(events) {}

  // A new run: records its creation and starts its ready steps.
  static Machine Create(Run& run, const RunId& id, json::Value input, Priority priority,
                        std::string idempotency_key, int64_t now_ms, std::vector<Record>& records,
                        std::vector<Event>* events, trace::TraceParent trace_parent = {},
                        ParentLink parent = {}, const std::string* queued_key = nullptr);
  // A queued run (created with a queued_key) whose slot freed: it starts. kConflict unless queued.
  Status Dequeue();

  // Results of an attempt; stale ones (another attempt, a finished run) are ignored. An output
  // over the live limits (json/value_limits.h) fails the attempt instead ("step output exceeds 1
  // MiB once encoded"): retryable for an http step (with jitter u01), final for a pure step.
  void StepSucceeded(uint32_t step, size_t attempt, json::Value output, double u01 = 0.5);
  void StepFailed(uint32_t step, size_t attempt, std::string error, bool retryable, double u01);
  // A workflow step's attempt started its child run: the step waits for it (kStepWaiting with
  // the child's id). Ignored when the attempt is no longer current.
  void ChildStarted(uint32_t step, size_t attempt, std::string child_run);
  // Results of a map item of the step's current attempt (engine/map_step.cc); stale ones (another
  // attempt, an item not in flight, a finished run) are ignored. The map step ends when its last
  // item does, or at the first failed item with on_failure fail_fast.
  void MapItemSucceeded(uint32_t step, size_t attempt, uint32_t item, json::Value output);
  void MapItemFailed(uint32_t step, size_t attempt, uint32_t item, std::string error);
  void TimerFired(const Timer& t);
  // Errors: kNotFound (no approval step of that name), kConflict (not waiting / run finished),
  // kTooLarge / kTooDeep / kInvalidArgument (a payload over the live limits).
  Status Signal(std::string_view name, json::Value payload);
  Status Cancel(std::string reason = "cancelled");  // kConflict when already finished
  Status Resume();  // kConflict unless the run failed
  // After replay: steps that were running when the process stopped are retried
  // as new attempts; timers are re-armed; ready steps start.
  void Recover(bool rearm_timers = true);

  // The input a step's executor receives.
  json::Value StepInput(uint32_t step) const;

  const Effects& effects() const { return effects_; }
  Effects& effects() { return effects_; }

 private:
  void Commit(Record r);
  Record Make(RecordType type, uint32_t step = kNoStep) const;
  void Advance();
  void StartStep(uint32_t i);
  void StartMap(uint32_t i);       // kStepStarted resolved the items: check them, dispatch
  // Dispatches pending items up to the step's concurrency; records the step's end after its last
  // item (then, if `advance`, starts what became ready).
  void MapProgress(uint32_t i, bool advance);
  void FinishRun(RunStatus status, std::string error, uint32_t step = kNoStep);
  json::Value RunOutput() const;
  bool Ready(uint32_t i) const;
  // `attempt` is the step's current one and may still report a result.
  bool Current(uint32_t step, size_t attempt) const;

  Run& run_;
  int64_t now_;
  std::vector<Record>& records_;
  std::vector<Event>* events_;
  Effects effects_;
};

}  // namespace rf::engine

#include "engine/record.h"

#include "base/tenancy.h"
#include "engine/map_step.h"
#include "json/parse.h"
#include "json/value_limits.h"
#include "json/writer.h"
#include "store/run_log.h"

namespace rf::engine {

namespace {

void Emit(Run& run, std::vector<Event>* events, std::string_view type, int64_t at,
          std::string_view step, json::Value data) {
  ++run.event_seq;
  if (!events) return;
  events->push_back(Event{run.event_seq, std::string(type), at, std::string(step), std::move(data)});
}

// Running beats waiting: a run waits only when nothing can make progress by itself.
void Recompute(Run& run, std::vector<Event>* events, int64_t at) {
  if (IsTerminal(run.status)) return;
  bool running = false, waiting = false;
  for (const StepState& s : run.steps) {
    running = running || s.status == StepStatus::kRunning || s.status == StepStatus::kRetrying;
    waiting = waiting || s.status == StepStatus::kWaiting;
  }
  RunStatus next = running ? RunStatus::kRunning : waiting ? RunStatus::kWaiting : run.status;
  if (next == RunStatus::kWaiting && run.status != RunStatus::kWaiting) {
    Emit(run, events, "run.waiting", at, {}, json::Value());
  }
  run.status = next;
}

void FinishAttempt(StepState& st, int64_t at, const std::string& error) {
  if (!st.attempts.empty() && st.attempts.back().finished_ms == 0) {
    st.attempts.back().finished_ms = at;
    st.attempts.back().error = error;
  }
}

// A map attempt's items, resolved from its template over the run as it is now (the same live and
// at replay: the records before this one made it so).
void StartMapState(Run& run, uint32_t step) {
  auto m = std::make_shared<MapState>();
  m->items = ResolveMapItems(run, step);
  if (m->items.is_array()) {
    m->state.assign(m->items.as_array().size(), MapState::kPending);
    m->results.assign(m->items.as_array().size(), json::Value());
  }
  run.steps[step].map = std::move(m);
}

json::Object CreatedData(const Definition& def) {
  const ScopedName scoped = SplitQualified(def.name);
  return json::Object{{"workflow", std::string(scoped.name)},
                      {"namespace", std::string(scoped.ns)},
                      {"version", def.version}};
}

}  // namespace

void Apply(Run& run, const Record& r, std::vector<Event>* events) {
  run.updated_ms = r.at_ms;
  StepState* st = r.step < run.steps.size() ? &run.steps[r.step] : nullptr;
  std::string_view sid = st ? std::string_view(run.def->steps[r.step].id) : std::string_view{};
  switch (r.type) {
    case RecordType::kRunCreated:
      run.id = r.run;
      run.id_text = r.run.ToString();
      run.input = r.data;
      run.priority = r.priority;
      run.idempotency_key = r.text;
      run.created_ms = r.at_ms;
      run.deadline_ms = r.due_ms;
      run.trace_parent = r.trace_parent;
      run.parent = r.parent;
      run.status = RunStatus::kPending;
      run.steps.assign(run.def->steps.size(), StepState{});
      Emit(run, events, "run.created", r.at_ms, {}, CreatedData(*run.def));
      return;
    case RecordType::kStepStarted:
      if (!st) return;
      st->status = StepStatus::kRunning;
      st->due_ms = 0;
      st->child_run.clear();
      st->attempts.push_back(Attempt{r.at_ms, 0, {}});
      if (run.def->steps[r.step].type == StepType::kMap) {
        StartMapState(run, r.step);
        Emit(run, events, "step.started", r.at_ms, sid,
             json::Object{{"attempt", static_cast<int64_t>(st->attempts.size())},
                          {"items", static_cast<int64_t>(st->map->total())}});
        break;
      }
      Emit(run, events, "step.started", r.at_ms, sid,
           json::Object{{"attempt", static_cast<int64_t>(st->attempts.size())}});
      break;
    case RecordType::kMapItemSucceeded:
    case RecordType::kMapItemFailed: {
      if (!st || !st->map || r.item >= st->map->total()) return;
      MapState& m = *st->map;
      const bool ok = r.type == RecordType::kMapItemSucceeded;
      if (m.state[r.item] == MapState::kSucceeded || m.state[r.item] == MapState::kFailed) return;
      if (m.state[r.item] == MapState::kInFlight) --m.in_flight;
      m.state[r.item] = ok ? MapState::kSucceeded : MapState::kFailed;
      m.results[r.item] = ok ? r.data : json::Value(r.text);
      ++(ok ? m.succeeded : m.failed);
      json::Object d;
      if (events) {  // replay numbers the event but never reads it
        d.emplace_back("index", static_cast<int64_t>(r.item));
        if (ok) {
          d.emplace_back("output", r.data);
        } else {
          d.emplace_back("error", r.text);
        }
        d.emplace_back("progress", MapProgressJson(m, false));
      }
      Emit(run, events, ok ? "map.item_succeeded" : "map.item_failed", r.at_ms, sid, std::move(d));
      return;
    }
    case RecordType::kStepSucceeded:
      if (!st) return;
      FinishAttempt(*st, r.at_ms, {});
      st->status = StepStatus::kSucceeded;
      st->output = r.data;
      st->error.clear();
      st->due_ms = 0;
      Emit(run, events, "step.succeeded", r.at_ms, sid, json::Object{{"output", r.data}});
      break;
    case RecordType::kStepFailed: {
      if (!st) return;
      FinishAttempt(*st, r.at_ms, r.text);
      st->error = r.text;
      st->due_ms = r.due_ms;
      st->status = r.due_ms ? StepStatus::kRetrying : StepStatus::kFailed;
      json::Object d{{"attempt", static_cast<int64_t>(st->attempts.size())}, {"error", r.text}};
      if (r.due_ms) d.emplace_back("retry_at_ms", r.due_ms);
      Emit(run, events, r.due_ms ? "step.retrying" : "step.failed", r.at_ms, sid, std::move(d));
      break;
    }
    case RecordType::kStepSkipped:
      if (!st) return;
      st->status = StepStatus::kSkipped;
      Emit(run, events, "step.skipped", r.at_ms, sid, json::Value());
      break;
    case RecordType::kStepWaiting:
      if (!st) return;
      st->status = StepStatus::kWaiting;
      st->due_ms = r.due_ms;
      if (!r.text.empty()) {  // a workflow step started its child run
        st->child_run = r.text;
        Emit(run, events, "step.waiting", r.at_ms, sid, json::Object{{"child_run_id", r.text}});
      }
      break;
    case RecordType::kRunFinished: {
      run.status = r.status;
      run.finished_ms = r.at_ms;
      run.output = r.data;
      run.error = r.text;
      run.failed_step = st ? std::string(sid) : std::string();
      for (StepState& s : run.steps) {
        if (IsDone(s.status)) continue;
        FinishAttempt(s, r.at_ms, "run " + std::string(RunStatusName(r.status)));
        s.status = StepStatus::kCancelled;
        s.due_ms = 0;
      }
      json::Value d;
      if (r.status == RunStatus::kSucceeded) d = json::Object{{"output", r.data}};
      if (!r.text.empty()) {
        json::Object e{{"error", r.text}};
        if (st) e.emplace_back("step", std::string(sid));
        d = std::move(e);
      }
      Emit(run, events, r.status == RunStatus::kSucceeded ? "run.succeeded"
                        : r.status == RunStatus::kFailed  ? "run.failed"
                                                          : "run.cancelled",
           r.at_ms, {}, std::move(d));
      return;
    }
    case RecordType::kRunResumed:
      for (StepState& s : run.steps) {
        if (s.status == StepStatus::kFailed || s.status == StepStatus::kCancelled) {
          s.status = StepStatus::kPending;
          s.due_ms = 0;
          s.error.clear();
        }
      }
      run.status = RunStatus::kRunning;
      run.error.clear();
      run.failed_step.clear();
      run.output = json::Value();
      run.finished_ms = 0;
      if (r.due_ms) run.deadline_ms = r.due_ms;
      Emit(run, events, "run.resumed", r.at_ms, {}, json::Value());
      return;
    case RecordType::kRunQueued:
      run.status = RunStatus::kQueued;
      Emit(run, events, "run.queued", r.at_ms, {}, json::Object{{"key", r.text}});
      return;
    case RecordType::kRunDequeued:
      run.status = RunStatus::kPending;
      Emit(run, events, "run.dequeued", r.at_ms, {}, json::Value());
      return;
  }
  Recompute(run, events, r.at_ms);
}

void EncodeRecord(const Record& r, const Run* run, Buffer& out) {
  // Written directly (no Value tree): this runs for every state change.
  char id[36];
  r.run.Format(id);
  out.Append("{\"t\":");
  out.AppendUnsigned(static_cast<unsigned>(r.type));
  out.Append(",\"run\":\"");
  out.Append(std::string_view(id, sizeof id));
  out.Append("\",\"at\":");
  out.AppendSigned(r.at_ms);
  if (r.step != kNoStep) {
    out.Append(",\"step\":");
    out.AppendUnsigned(r.step);
    if (run && r.step < run->def->steps.size()) {
      out.Append(",\"sid\":");
      json::WriteString(run->def->steps[r.step].id, out);
    }
  }
  if (r.type == RecordType::kMapItemSucceeded || r.type == RecordType::kMapItemFailed) {
    out.Append(",\"item\":");
    out.AppendUnsigned(r.item);
  }
  if (r.due_ms) {
    out.Append(",\"due\":");
    out.AppendSigned(r.due_ms);
  }
  if (r.type == RecordType::kRunFinished) {
    out.Append(",\"st\":\"");
    out.Append(RunStatusName(r.status));
    out.Append('"');
  }
  if (r.type == RecordType::kRunCreated) {
    out.Append(",\"wf\":");
    json::WriteString(r.workflow, out);
    out.Append(",\"ver\":");
    out.AppendSigned(r.version);
    out.Append(",\"prio\":\"");
    out.Append(PriorityName(r.priority));
    out.Append('"');
    if (r.trace_parent.valid()) {
      char tp[trace::kTraceparentSize];
      trace::FormatTraceparent(r.trace_parent.trace, r.trace_parent.span, r.trace_parent.flags, tp);
      out.Append(",\"tp\":\"");
      out.Append(std::string_view(tp, sizeof tp));
      out.Append('"');
    }
    if (r.parent.valid()) {
      out.Append(",\"parent\":{\"run\":");
      json::WriteString(r.parent.run_text, out);
      out.Append(",\"step\":");
      json::WriteString(r.parent.step, out);
      out.Append(",\"attempt\":");
      out.AppendUnsigned(r.parent.attempt);
      out.Append(",\"depth\":");
      out.AppendUnsigned(r.parent.depth);
      out.Append('}');
    }
  }
  if (!r.text.empty()) {
    out.Append(",\"text\":");
    json::WriteString(r.text, out);
  }
  if (!r.data.is_null()) {
    out.Append(",\"data\":");
    json::Write(r.data, out);
  }
  out.Append('}');
}

std::string EncodeRecord(const Record& r, const Run* run) {
  Buffer out;
  EncodeRecord(r, run, out);
  return std::string(out.view());
}

Result<Record> DecodeRecord(std::string_view bytes) {
  auto v =
      json::Parse(bytes, {.max_bytes = json::kReplayMaxBytes, .max_depth = json::kReplayMaxDepth});
  if (!v) return v.error();
  auto bad = [](std::string what) { return Error{Errc::kCorrupt, "record: " + what}; };
  Record r;
  const json::Value* t = v->Find("t");
  const json::Value* run = v->Find("run");
  const json::Value* at = v->Find("at");
  if (!t || !t->is_int() || t->as_int() < 1 || t->as_int() > kLastRecordType) return bad("bad type");
  if (!run || !run->is_string() || !at || !at->is_int()) return bad("missing run or time");
  r.type = static_cast<RecordType>(t->as_int());
  auto id = ParseRunId(run->as_string());
  if (!id) return bad("bad run id");
  r.run = *id;
  r.at_ms = at->as_int();
  if (const json::Value* s = v->Find("step"); s && s->is_int()) r.step = static_cast<uint32_t>(s->as_int());
  if (const json::Value* d = v->Find("due"); d && d->is_int()) r.due_ms = d->as_int();
  if (r.type == RecordType::kMapItemSucceeded || r.type == RecordType::kMapItemFailed) {
    const json::Value* item = v->Find("item");
    if (!item || !item->is_int() || item->as_int() < 0 || item->as_int() > kMaxMapItemsLimit)
      return bad("bad map item");
    r.item = static_cast<uint32_t>(item->as_int());
  }
  if (const json::Value* s = v->Find("st"); s && s->is_string() && !ParseRunStatus(s->as_string(), r.status))
    return bad("bad status");
  if (const json::Value* p = v->Find("prio"); p && p->is_string() && !ParsePriority(p->as_string(), r.priority))
    return bad("bad priority");
  if (const json::Value* w = v->Find("wf"); w && w->is_string()) r.workflow = w->as_string();
  if (const json::Value* n = v->Find("ver"); n && n->is_int()) r.version = n->as_int();
  // Written only from a parsed header, so it parses; anything else reads as no caller context
  // rather than quarantining the run: tracing is not worth losing a run for.
  if (const json::Value* tp = v->Find("tp"); tp && tp->is_string()) {
    if (auto parent = trace::ParseTraceparent(tp->as_string())) r.trace_parent = *parent;
  }
  if (const json::Value* p = v->Find("parent"); p && p->is_object()) {
    const json::Value* prun = p->Find("run");
    const json::Value* pstep = p->Find("step");
    const json::Value* pattempt = p->Find("attempt");
    const json::Value* pdepth = p->Find("depth");
    if (!prun || !prun->is_string() || !pstep || !pstep->is_string() || !pattempt ||
        !pattempt->is_int() || !pdepth || !pdepth->is_int())
      return bad("bad parent");
    auto pid = ParseRunId(prun->as_string());
    if (!pid) return bad("bad parent run id");
    r.parent.run = *pid;
    r.parent.run_text = prun->as_string();
    r.parent.step = pstep->as_string();
    r.parent.attempt = static_cast<uint32_t>(pattempt->as_int());
    r.parent.depth = static_cast<uint32_t>(pdepth->as_int());
  }
  if (const json::Value* x = v->Find("text"); x && x->is_string()) r.text = x->as_string();
  if (json::Value* d = v->Find("data")) r.data = std::move(*d);
  return r;
}

std::optional<RunId> PeekRunId(std::string_view bytes) {
  // EncodeRecord writes {"t":N,"run":"<36 characters>",...
  constexpr std::string_view kKey = "\"run\":\"";
  const size_t at = bytes.substr(0, 32).find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  auto id = ParseRunId(bytes.substr(at + kKey.size(), 36));
  if (!id) return std::nullopt;
  return *id;
}

json::Value EventToJsonInRun(const Event& e) {
  json::Object o{{"seq", static_cast<int64_t>(e.seq)}, {"type", e.type}, {"at_ms", e.at_ms}};
  if (!e.step.empty()) o.emplace_back("step", e.step);
  if (!e.data.is_null()) o.emplace_back("data", e.data);
  return o;
}

json::Value EventToJson(const Event& e, const RunId& run) {
  json::Object o{{"seq", static_cast<int64_t>(e.seq)}, {"type", e.type}, {"run", run.ToString()},
                 {"at_ms", e.at_ms}};
  if (!e.step.empty()) o.emplace_back("step", e.step);
  if (!e.data.is_null()) o.emplace_back("data", e.data);
  return o;
}

namespace {

// def_of(first record): the run's definition; called once, before anything is applied.
template <class DefOf>
Result<Run> Rebuild(std::string_view log, DefOf&& def_of) {
  Run r;
  bool first = true;
  Status st = store::ForEachLogRecord(log, [&](std::string_view payload) -> Status {
    auto rec = DecodeRecord(payload);
    if (!rec) return rec.error();
    if (first) {
      first = false;
      auto def = def_of(*rec);
      if (!def) return def.error();
      r.def = std::move(*def);
    }
    Apply(r, *rec, nullptr);
    return {};
  });
  if (!st) return st.error();
  // Every step is indexed by the definition's: a log without the run's creation (empty, or cut
  // at its head) cannot be rendered, and answering that beats reading past the steps.
  if (!r.def || r.steps.size() != r.def->steps.size())
    return Error{Errc::kCorrupt, "the run's log has no creation record"};
  return r;
}

}  // namespace

Result<Run> RebuildRun(std::shared_ptr<const Definition> def, std::string_view log) {
  return Rebuild(log, [&](const Record&) -> Result<std::shared_ptr<const Definition>> { return def; });
}

Result<Run> RebuildRun(std::string_view log, const DefinitionOf& def_of) {
  return Rebuild(log, [&](const Record& first) -> Result<std::shared_ptr<const Definition>> {
    if (first.type != RecordType::kRunCreated)
      return Error{Errc::kCorrupt, "the run's log has no creation record"};
    return def_of(first);
  });
}

}  // namespace rf::engine

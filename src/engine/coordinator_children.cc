// Workflow steps: a step that runs another workflow as a child run and takes its result.
//
// Where the child lives: on its parent's partition, so parent and child are on one shard (and,
// in a cluster, one instance) and a handover moves both together. A child of a flow-controlled
// workflow (concurrency, rate_limit, debounce) is counted under its key like any other run of
// that key, so it lives on the key's partition (ChildPartition), as an API start of the same
// input would: maybe another shard's. Its start (SubmitTo), the notice of its end and its
// cancellation (messages) then cross shards. With a store that moves partitions between
// instances the key's partition may be another daemon's, which no message reaches: the start,
// the looks at the child and its cancellation go there through the API
// (coordinator_remote_children.cc).
//
// Durability, kill -9 at any point:
// - The child's start carries the idempotency key "workflow-step:<parent>/<step>/<attempt>",
//   so repeating it (on the same partition: the key's, or the one the step's child id names)
//   finds the child created before (in memory or in history) instead of starting a second one.
// - The step records kStepWaiting with the child's id once the child's creation is durable.
//   After a restart Machine::Recover executes a running or waiting workflow step again as the
//   same attempt: the repeated start finds the child, and if it ended while the parent was not
//   listening (before the crash, or while the parent was loaded) its end is taken from it.
// - A child's end reaches its parent when the end is durable (Dispatch -> ChildEnded). A
//   parent's end cancels its live children the same way (CancelChildren); a restart between
//   the two finds the orphan (its parent gone from memory, so finished, or finished) and
//   cancels it (CancelOrphan; a parent on another shard is asked once every shard is open).

#include "base/tenancy.h"
#include "engine/coordinator.h"
#include "engine/map_step.h"
#include "json/parse.h"
#include "obs/log.h"
#include "reactor/submit_to.h"

namespace rf::engine {
namespace {

// Outcome slots of ShardEngineStats::subworkflows.
constexpr size_t kStarted = 0, kSucceeded = 1, kFailed = 2, kCancelled = 3, kRefused = 4;

// What a noop would output: the step input (Machine::StepInput).
json::Value DefaultInput(const Run& run, const Step& s) {
  if (s.dependencies.empty()) return run.input;
  if (s.dependencies.size() == 1) return run.steps[s.dependencies[0]].output;
  json::Object o;
  for (uint32_t d : s.dependencies) o.emplace_back(run.def->steps[d].id, run.steps[d].output);
  return o;
}

std::string ChildKey(const Run& parent, const Step& s, uint32_t attempt) {
  return "workflow-step:" + parent.id_text + "/" + s.id + "/" + std::to_string(attempt);
}

}  // namespace

reactor::Task<void> Coordinator::RunChild(Coordinator* self, Entry* e, uint32_t step, uint32_t attempt,
                                          uint32_t item) {
  Pin pin(e);
  struct Done {  // Execute counted this task in the entry's pending work
    Entry* e;
    ~Done() { --e->pending; }
  } done{e};
  const Run& run = e->run;
  const Step& s = run.def->steps[step];
  const bool is_item = item != kNoItem;  // a map step's workflow item
  const std::string& workflow = is_item ? s.map->workflow : s.workflow;
  const int64_t version = is_item ? s.map->workflow_version : s.workflow_version;
  const std::string_view ns = SplitQualified(run.def->name).ns;
  const std::string qualified = QualifiedName(ns, workflow);
  const std::shared_ptr<const Definition>* def =
      version ? self->registry_->Find(qualified, version) : self->registry_->Latest(qualified);
  if (!def) {
    std::string what = "workflow_not_found: no workflow '" + workflow + "'";
    if (version) what += " with version " + std::to_string(version);
    self->FailChild(*e, step, attempt, what + " in namespace '" + std::string(ns) + "'", item);
    co_return;
  }
  const uint32_t depth = run.parent.depth + 1;
  if (depth > self->options_.max_workflow_depth) {
    self->FailChild(*e, step, attempt,
                    "workflow_depth_exceeded: a run of '" + workflow + "' here would be nested " +
                        std::to_string(depth) + " levels deep; the limit is " +
                        std::to_string(self->options_.max_workflow_depth) + " (--max-workflow-depth)",
                    item);
    co_return;
  }
  StartCommand cmd;
  cmd.def = *def;
  if (is_item) {
    const json::Value* value = self->LiveItem(*e, step, attempt, item);
    if (!value) co_return;  // ExecuteItem just checked; kept for safety
    if (s.map->input) {
      RunStepResults results(run);
      json::Context ctx{value, &results, run.id_text, run.def->name};  // input: the item
      cmd.input = s.map->input->Evaluate(ctx);
    } else {
      cmd.input = *value;
    }
    cmd.idempotency_key = MapChildKey(run, s, attempt, item);
  } else {
    if (s.input) {
      RunStepResults results(run);
      json::Context ctx{&run.input, &results, run.id_text, run.def->name};
      cmd.input = s.input->Evaluate(ctx);
    } else {
      cmd.input = DefaultInput(run, s);
    }
    cmd.idempotency_key = ChildKey(run, s, attempt);
  }
  cmd.priority = run.priority;
  cmd.partition = self->ChildPartition(run, step, item, **def, cmd.input);
  cmd.trace_parent = run.trace_parent;
  cmd.parent = ParentLink{run.id, run.id_text, s.id, attempt, depth};
  // Watched (coordinator_remote_children.cc) where its end may not be told: another partition,
  // with a store whose partitions move between daemons.
  const bool watch = self->store_->moves_partitions() && cmd.partition != run.id.partition();
  Result<RunView> started =
      co_await StartChild(self, e, step, attempt, item, std::move(cmd), version, workflow);  // suspends
  if (self->failed_ || self->closing_) co_return;  // the restart executes the attempt again
  if (!started) {
    // Releasing: the next holder executes the attempt again.
    if (started.error().code == Errc::kNotHeld || self->Releasing(*e)) co_return;
    self->FailChild(*e, step, attempt, "the child run could not be started: " + started.error().ToString(),
                    item);
    co_return;
  }
  if (started->created) self->stats_->subworkflows[kStarted].Add();
  auto view = json::Parse(started->json);
  const json::Value* id = view ? view->Find("id") : nullptr;
  const json::Value* status = view ? view->Find("status") : nullptr;
  RunStatus st = RunStatus::kPending;
  if (!id || !id->is_string() || !status || !status->is_string() ||
      !ParseRunStatus(status->as_string(), st)) {
    self->FailChild(*e, step, attempt, "the child run could not be read", item);
    co_return;
  }
  const std::string child_id = id->as_string();
  if (IsTerminal(e->run.status)) {
    self->CancelChild(child_id, ns);  // the parent ended while the child was being created
    co_return;
  }
  if (started->terminal) {  // it ended before this attempt listened (a restart)
    const json::Value* output = view->Find("output");
    const json::Value* error = view->Find("error");
    const json::Value* message = error ? error->Find("message") : nullptr;
    self->FinishFromChild(*e, step, attempt, child_id, st, output ? *output : json::Value(),
                          message && message->is_string() ? message->as_string() : std::string(),
                          item);
    co_return;
  }
  if (is_item) {  // memory only: a restart runs the item again, which finds the child again
    if (self->LiveItem(*e, step, attempt, item)) {
      MapState& m = *e->run.steps[step].map;
      if (m.children.size() != m.total()) m.children.resize(m.total());
      m.children[item] = child_id;
    }
  } else {
    self->Mutate(*e, [&](Machine& m) {
      m.ChildStarted(step, attempt, child_id);
      return 0;
    });
  }
  if (watch) reactor::Spawn(WatchChild(self, run.id, step, attempt, item, child_id), &self->tasks_);
}

void Coordinator::FailChild(Entry& parent, uint32_t step, uint32_t attempt, std::string error,
                            uint32_t item) {
  stats_->subworkflows[kRefused].Add();
  if (item != kNoItem) {
    Mutate(parent, [&](Machine& m) {
      m.MapItemFailed(step, attempt, item, std::move(error));
      return 0;
    });
    return;
  }
  Mutate(parent, [&](Machine& m) {
    m.StepFailed(step, attempt, std::move(error), false, 0.5);
    return 0;
  });
  stats_->steps[static_cast<size_t>(StepType::kWorkflow)][1].Add();
}

void Coordinator::FinishFromChild(Entry& parent, uint32_t step, uint32_t attempt, std::string_view child,
                                  RunStatus status, json::Value output, std::string_view error,
                                  uint32_t item) {
  if (IsTerminal(parent.run.status) || Releasing(parent) || step >= parent.run.steps.size()) return;
  const StepState& st = parent.run.steps[step];
  if (item != kNoItem) {
    if (!LiveItem(parent, step, attempt, item)) return;
    const bool ok = status == RunStatus::kSucceeded;
    stats_->subworkflows[ok ? kSucceeded : status == RunStatus::kFailed ? kFailed : kCancelled].Add();
    Mutate(parent, [&](Machine& m) {
      if (ok) {
        m.MapItemSucceeded(step, attempt, item, std::move(output));
      } else {
        std::string why = "child run " + std::string(child) + " " + std::string(RunStatusName(status));
        if (!error.empty() && error != "cancelled") why += ": " + std::string(error);
        m.MapItemFailed(step, attempt, item, std::move(why));
      }
      return 0;
    });
    return;
  }
  const bool waiting = st.status == StepStatus::kRunning || st.status == StepStatus::kWaiting;
  if (!waiting || st.attempts.size() != attempt) return;
  const bool ok = status == RunStatus::kSucceeded;
  stats_->subworkflows[ok ? kSucceeded : status == RunStatus::kFailed ? kFailed : kCancelled].Add();
  Mutate(parent, [&](Machine& m) {
    // A child that ends in its creation's commit (pure steps only) may end before the start
    // returned to RunChild: the link is recorded first, so the step always names its child.
    if (st.status == StepStatus::kRunning) m.ChildStarted(step, attempt, std::string(child));
    if (ok) {
      m.StepSucceeded(step, attempt, std::move(output));
    } else {
      std::string why = "child run " + std::string(child) + " " + std::string(RunStatusName(status));
      if (!error.empty() && error != "cancelled") why += ": " + std::string(error);
      m.StepFailed(step, attempt, std::move(why), false, 0.5);
    }
    return 0;
  });
  const size_t outcome = parent.run.steps[step].status == StepStatus::kSucceeded ? 0 : 1;
  stats_->steps[static_cast<size_t>(StepType::kWorkflow)][outcome].Add();
}

uint32_t Coordinator::ChildPartition(const Run& parent, uint32_t step, uint32_t item,
                                     const Definition& def, const json::Value& input) const {
  if (!def.flow_controlled()) return parent.id.partition();
  // A store that moves partitions: the key's partition may be another daemon's, reached only
  // through the API (RemoteRuns); without that, the child stays with its parent.
  if (store_->moves_partitions() && !(remote_ && *remote_)) return parent.id.partition();
  // A repeat of an attempt whose child is named goes where that child is, even if a newer
  // version of the child's workflow would compute another key.
  const std::string& named = parent.steps[step].child_run;
  if (item == kNoItem && !named.empty()) {
    if (auto id = ParseRunId(named)) return id->partition();
  }
  return FlowPartition(def.name, FlowKey(def, input));
}

reactor::Task<Result<RunView>> Coordinator::StartChildHere(Coordinator* self, StartCommand cmd) {
  // The parent's shard may resume its runs before this shard has replayed its journal.
  while (!self->opened_ && !self->failed_ && !self->closing_) co_await reactor::Sleep(10 * kMillis);  // suspends
  // kNotHeld: the parent's attempt is left as it is and executed again after the restart.
  if (self->failed_ || self->closing_)
    co_return Error{Errc::kNotHeld, "shard " + std::to_string(self->shard_) + " is closing"};
  co_return co_await self->Start(std::move(cmd));  // suspends
}

// A child's end, sent to its parent's shard (Shard::Post) when that is another one.
struct Coordinator::ChildEnd {
  Coordinator* to;
  RunId parent;
  std::string step;
  uint32_t attempt;
  int64_t item;  // a map step's workflow item, from the child's key; -1: a workflow step
  std::string child;
  RunStatus status;
  json::Value output;
  std::string error;
};

void Coordinator::ChildEnded(const Entry& child) {
  const ParentLink& link = child.run.parent;
  if (!link.valid()) return;
  const unsigned home = ShardOf(link.run.partition());
  const bool here = home == shard_ || home >= peers_.size();
  auto end = std::make_unique<ChildEnd>(ChildEnd{here ? this : peers_[home], link.run, link.step, link.attempt,
                                                 MapItemOfChildKey(child.run.idempotency_key),
                                                 child.run.id_text, child.run.status, child.run.output,
                                                 child.run.error});
  if (here) {
    TakeChildEnd(*end);
    return;
  }
  reactor::Shard::Current().Post(home, reactor::Message{&Coordinator::OnChildEndMsg, end.release()});
}

void Coordinator::OnChildEndMsg(void* p) {
  std::unique_ptr<ChildEnd> end(static_cast<ChildEnd*>(p));
  // A closing shard's parent hears of the end after the restart (the repeated start finds it).
  if (!end->to->closing_ && !end->to->failed_) end->to->TakeChildEnd(*end);
}

void Coordinator::TakeChildEnd(const ChildEnd& end) {
  Entry* parent = Find(end.parent);
  if (!parent || parent->compact) return;  // finished already (a finished parent is compacted)
  const Step* s = parent->run.def->FindStep(end.step);
  if (s && s->type == StepType::kMap) {
    if (end.item < 0) return;
    FinishFromChild(*parent, s->index, end.attempt, end.child, end.status, end.output, end.error,
                    static_cast<uint32_t>(end.item));
    return;
  }
  if (!s || s->type != StepType::kWorkflow) return;
  FinishFromChild(*parent, s->index, end.attempt, end.child, end.status, end.output, end.error);
}

void Coordinator::CancelChildren(const Entry& parent) {
  if (parent.compact) return;
  const std::string_view ns = SplitQualified(parent.run.def->name).ns;
  for (const Step& s : parent.run.def->steps) {
    if (s.type == StepType::kMap && parent.run.steps[s.index].map) {
      for (const std::string& child : parent.run.steps[s.index].map->children) CancelChild(child, ns);
      continue;
    }
    if (s.type == StepType::kWorkflow) CancelChild(parent.run.steps[s.index].child_run, ns);
  }
}

namespace {

struct CancelChildMsg {
  Coordinator* to;
  RunId child;
  std::string ns;
};

}  // namespace

void Coordinator::CancelChild(const std::string& child, std::string_view ns) {
  if (child.empty()) return;
  auto id = ParseRunId(child);
  if (!id) return;
  const unsigned home = ShardOf(id->partition());
  if (home == shard_ || home >= peers_.size()) {
    CancelChildHere(*id, ns);
    return;
  }
  reactor::Shard::Current().Post(home, reactor::Message{&Coordinator::OnCancelChildMsg,
                                                        new CancelChildMsg{peers_[home], *id, std::string(ns)}});
}

void Coordinator::OnCancelChildMsg(void* p) {
  std::unique_ptr<CancelChildMsg> m(static_cast<CancelChildMsg*>(p));
  // A closing shard's child is found an orphan after the restart.
  if (!m->to->closing_ && !m->to->failed_) m->to->CancelChildHere(m->child, m->ns);
}

void Coordinator::CancelChildHere(const RunId& child, std::string_view ns) {
  if (store_->moves_partitions() && !Holds(child.partition())) {
    // Another daemon's (a child on its key's partition there): cancelled through the API.
    if (remote_ && *remote_) reactor::Spawn(RemoteCancel(this, child, std::string(ns)), &tasks_);
    return;
  }
  Entry* c = Find(child);
  if (!c || IsTerminal(c->run.status) || Releasing(*c)) return;
  Mutate(*c, [](Machine& m) { return m.Cancel().has_value(); });
}

bool Coordinator::CancelOrphan(Entry& child) {
  const ParentLink& link = child.run.parent;
  if (!link.valid() || IsTerminal(child.run.status)) return false;
  if (ShardOf(link.run.partition()) != shard_) {
    remote_orphan_checks_.push_back(child.run.id);
    return false;
  }
  // Parent and child share a shard, so a live parent is in memory now (its replay came with
  // the child's): one that is not, or not live, ended before the child was cancelled. A
  // parent's partition that another daemon holds says nothing: that daemon has the parent.
  if (store_->moves_partitions() && !Holds(link.run.partition())) return false;
  if (Entry* parent = Find(link.run); parent && !IsTerminal(parent->run.status)) return false;
  RF_LOG(kInfo, "cancelling a child run whose parent ended", {"run", child.run.id_text},
         {"parent", link.run_text});
  Mutate(child, [](Machine& m) { return m.Cancel().has_value(); });
  return true;
}

std::vector<char> Coordinator::LiveRuns(Coordinator* self, std::vector<RunId> ids) {
  std::vector<char> live(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const Entry* e = self->Find(ids[i]);
    // Not held here (another daemon's): not known to have ended.
    live[i] = (self->store_->moves_partitions() && !self->Holds(ids[i].partition())) ||
              (e && !IsTerminal(e->run.status));
  }
  return live;
}

reactor::Task<void> Coordinator::CheckRemoteOrphans() {
  std::vector<RunId> checks = std::move(remote_orphan_checks_);
  remote_orphan_checks_.clear();
  std::vector<std::vector<RunId>> children(peers_.size()), parents(peers_.size());
  for (const RunId& id : checks) {
    const Entry* e = Find(id);
    if (!e || IsTerminal(e->run.status)) continue;
    const unsigned home = ShardOf(e->run.parent.run.partition());
    if (home >= peers_.size()) continue;
    children[home].push_back(id);
    parents[home].push_back(e->run.parent.run);
  }
  for (unsigned home = 0; home < peers_.size(); ++home) {
    if (children[home].empty()) continue;
    auto op = reactor::SubmitTo(home, &Coordinator::LiveRuns, peers_[home], std::move(parents[home]));
    const std::vector<char> live = co_await op;  // suspends
    for (size_t i = 0; i < live.size(); ++i) {
      Entry* e = Find(children[home][i]);
      if (live[i] || !e || IsTerminal(e->run.status) || failed_ || closing_) continue;
      RF_LOG(kInfo, "cancelling a child run whose parent ended", {"run", e->run.id_text},
             {"parent", e->run.parent.run_text});
      Mutate(*e, [](Machine& m) { return m.Cancel().has_value(); });
    }
  }
}

}  // namespace rf::engine

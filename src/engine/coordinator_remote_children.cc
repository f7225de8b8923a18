// Child runs on another daemon: with a store that moves partitions (PostgreSQL), a child of a
// flow-controlled workflow lives on its key's partition, which another daemon of the cluster may
// hold. Its start goes there as an API start (RemoteRuns: the API's forwarding, signed with the
// cluster's secret) carrying the parent's link (X-Ringflow-Parent) and the same idempotency key
// as a local start, so a repeat after a restart finds it there. No message reaches a parent on
// another daemon, so the parent watches such a child (WatchChild: a look every 1 s, then every
// 5 s) until the child's end finishes the step; a child that happens to be on this daemon still
// reports its end at once (ChildEnded), and the watch then finds the step no longer waiting.
// Its parent's end cancels it there (RemoteCancel). A partition handed over meanwhile changes
// nothing: the holder is looked up for every request, and a parent taken over by another daemon
// executes its waiting step again there, which finds the child again.

#include <algorithm>
#include <charconv>

#include "base/tenancy.h"
#include "engine/coordinator.h"
#include "json/parse.h"
#include "json/writer.h"
#include "obs/log.h"
#include "reactor/submit_to.h"

namespace rf::engine {
namespace {

constexpr Nanos kFirstLook = 1 * kSeconds;  // a short child's end is seen about this soon
constexpr Nanos kLookEvery = 5 * kSeconds;  // and a long one's within this
constexpr Nanos kPauseStep = 100 * kMillis;  // Close waits for these tasks at most this long

std::string ApiPrefix(std::string_view ns) {
  if (ns == kDefaultNamespace) return "/v1";
  return "/v1/namespaces/" + std::string(ns);
}

reactor::Task<Result<RunView>> GetOn(Coordinator* c, RunId id, std::string ns) { return c->Get(id, std::move(ns)); }

}  // namespace

std::string ParentHeader(const ParentLink& p) {
  return p.run_text + ";" + std::to_string(p.attempt) + ";" + std::to_string(p.depth) + ";" + p.step;
}

std::optional<ParentLink> ParseParentHeader(std::string_view text) {
  ParentLink p;
  std::string_view parts[3];
  for (std::string_view& part : parts) {
    const size_t semi = text.find(';');
    if (semi == std::string_view::npos) return std::nullopt;
    part = text.substr(0, semi);
    text.remove_prefix(semi + 1);
  }
  auto id = ParseRunId(parts[0]);
  auto number = [](std::string_view s, uint32_t& out) {
    return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), out).ptr == s.data() + s.size();
  };
  if (!id || !number(parts[1], p.attempt) || !number(parts[2], p.depth) || p.attempt == 0 || p.depth == 0 ||
      p.depth > kMaxWorkflowDepthLimit || text.empty() || text.size() > 256)
    return std::nullopt;
  p.run = *id;
  p.run_text = id->ToString();
  p.step = std::string(text);
  return p;
}

bool Coordinator::ChildAttemptLive(const Entry& e, uint32_t step, uint32_t attempt, uint32_t item) const {
  if (IsTerminal(e.run.status) || e.compact || Releasing(e) || step >= e.run.steps.size()) return false;
  if (item != kNoItem) return LiveItem(e, step, attempt, item) != nullptr;
  const StepState& st = e.run.steps[step];
  return (st.status == StepStatus::kRunning || st.status == StepStatus::kWaiting) && st.attempts.size() == attempt;
}

reactor::Task<Result<RunView>> Coordinator::StartChild(Coordinator* self, Entry* e, uint32_t step,
                                                       uint32_t attempt, uint32_t item, StartCommand cmd,
                                                       int64_t version, std::string workflow) {
  std::optional<RemoteRequest> remote;
  if (self->store_->moves_partitions() && cmd.partition != e->run.id.partition() && self->remote_ &&
      *self->remote_) {
    // A copy for the other daemon, made before the local start takes the command.
    json::Object body{{"input", cmd.input}, {"priority", std::string(PriorityName(cmd.priority))}};
    if (version) body.emplace_back("version", version);
    remote = RemoteRequest{.partition = cmd.partition,
                           .method = "POST",
                           .path = ApiPrefix(SplitQualified(cmd.def->name).ns) + "/workflows/" + workflow + "/runs",
                           .body = json::ToString(json::Value(std::move(body))),
                           .idempotency_key = cmd.idempotency_key,
                           .parent = ParentHeader(cmd.parent),
                           .traceparent = {}};
    // As a child started here: it joins the trace its parent joined.
    if (cmd.trace_parent.valid()) remote->traceparent = trace::FormatTraceparent(cmd.trace_parent);
  }
  const unsigned home = self->ShardOf(cmd.partition);
  Result<RunView> started = Error{Errc::kInternal, "not started"};
  // Not `?:` around co_await: GCC 12 miscompiles co_await in a conditional.
  if (home == self->shard_ || home >= self->peers_.size()) {
    started = co_await self->Start(std::move(cmd));  // suspends
  } else {
    auto op = reactor::SubmitTo(home, &Coordinator::StartChildHere, self->peers_[home], std::move(cmd));
    started = co_await op;  // suspends
  }
  if (!remote || started || started.error().code != Errc::kNotHeld) co_return started;
  // Another daemon holds the key's partition (or it is moving): the start goes there, again
  // while the holder cannot be reached, as long as the attempt waits for it.
  while (true) {
    // The call is made before the co_await, in statements of its own: GCC 12 destroys a
    // temporary argument twice when it is built inside a co_await expression.
    RemoteRequest again = *remote;
    reactor::Task<Result<RunView>> sent = (*self->remote_)(std::move(again));
    started = co_await sent;  // suspends
    // Refused (401, 403: a holder without the cluster's secret): the step fails and says so.
    if (!started && started.error().code == Errc::kNotHeld)
      co_return Error{Errc::kConflict, "the daemon holding its key's partition refused it: " +
                                           started.error().context};
    if (started || started.error().code != Errc::kUnavailable) co_return started;
    if (self->failed_ || self->closing_ || !self->ChildAttemptLive(*e, step, attempt, item))
      co_return Error{Errc::kNotHeld, "the attempt is over"};
    for (const Nanos until = MonoNow() + kFirstLook; MonoNow() < until && !self->closing_;)
      co_await reactor::Sleep(std::min(kPauseStep, until - MonoNow()));  // suspends
    if (self->failed_ || self->closing_ || !self->ChildAttemptLive(*e, step, attempt, item))
      co_return Error{Errc::kNotHeld, "the attempt is over"};
  }
}

reactor::Task<Result<RunView>> Coordinator::LookAtRun(RunId id, std::string ns) {
  const unsigned home = ShardOf(id.partition());
  Result<RunView> r = Error{Errc::kInternal, "not read"};
  if (home == shard_ || home >= peers_.size()) {
    r = co_await Get(id, ns);  // suspends
  } else {
    auto op = reactor::SubmitTo(home, &GetOn, peers_[home], id, ns);
    r = co_await op;  // suspends
  }
  if (r || r.error().code != Errc::kNotHeld || !remote_ || !*remote_) co_return r;
  RemoteRequest look{.partition = id.partition(),
                     .method = "GET",
                     .path = ApiPrefix(ns) + "/runs/" + id.ToString(),
                     .body = {},
                     .idempotency_key = {},
                     .parent = {},
                     .traceparent = {}};
  reactor::Task<Result<RunView>> sent = (*remote_)(std::move(look));
  r = co_await sent;  // suspends
  co_return r;
}

reactor::Task<void> Coordinator::WatchChild(Coordinator* self, RunId parent, uint32_t step, uint32_t attempt,
                                            uint32_t item, std::string child) {
  auto child_id = ParseRunId(child);
  if (!child_id) co_return;
  Nanos pause = kFirstLook;
  while (true) {
    for (const Nanos until = MonoNow() + pause; MonoNow() < until && !self->closing_;)
      co_await reactor::Sleep(std::min(kPauseStep, until - MonoNow()));  // suspends
    pause = kLookEvery;
    if (self->failed_ || self->closing_) co_return;
    const Entry* e = self->Find(parent);
    if (!e || !self->ChildAttemptLive(*e, step, attempt, item)) co_return;
    const std::string ns(SplitQualified(e->run.def->name).ns);
    auto seen = co_await self->LookAtRun(*child_id, ns);  // suspends
    if (self->failed_ || self->closing_) co_return;
    if (!seen || !seen->terminal) continue;  // not reachable now, or not ended: look again
    Entry* p = self->Find(parent);
    if (!p || !self->ChildAttemptLive(*p, step, attempt, item)) co_return;
    self->FinishFromView(*p, step, attempt, child, seen->json, item);
    co_return;
  }
}

void Coordinator::FinishFromView(Entry& parent, uint32_t step, uint32_t attempt, const std::string& child,
                                 std::string_view json, uint32_t item) {
  auto view = json::Parse(json);
  const json::Value* status = view ? view->Find("status") : nullptr;
  RunStatus st = RunStatus::kPending;
  if (!status || !status->is_string() || !ParseRunStatus(status->as_string(), st) || !IsTerminal(st)) return;
  const json::Value* output = view->Find("output");
  const json::Value* error = view->Find("error");
  const json::Value* message = error ? error->Find("message") : nullptr;
  FinishFromChild(parent, step, attempt, child, st, output ? *output : json::Value(),
                  message && message->is_string() ? message->as_string() : std::string(), item);
}

reactor::Task<void> Coordinator::RemoteCancel(Coordinator* self, RunId child, std::string ns) {
  RemoteRequest cancel{.partition = child.partition(),
                       .method = "POST",
                       .path = ApiPrefix(ns) + "/runs/" + child.ToString() + "/cancel",
                       .body = {},
                       .idempotency_key = {},
                       .parent = {},
                       .traceparent = {}};
  reactor::Task<Result<RunView>> sent = (*self->remote_)(std::move(cancel));
  Result<RunView> r = co_await sent;  // suspends
  // 409: it had ended. Otherwise it ends by itself; its parent has ended already.
  if (!r && r.error().code != Errc::kConflict)
    RF_LOG(kWarn, "a child run on another daemon was not cancelled", {"run", child.ToString()},
           {"error", r.error().ToString()});
}

}  // namespace rf::engine

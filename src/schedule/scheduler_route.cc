// Where a fire's run lives. A fire of a workflow with a concurrency key (concurrency,
// rate_limit, debounce) is created on the partition of (workflow, key value), as an API start of
// the same input would be, so the run is counted, queued and released with the key's API runs.
// That partition may be owned by another shard of this daemon (reached with SubmitTo) or held by
// another daemon (reached through the API's forwarding, Schedulers::SetForwarder). The previous run of
// the overlap policy is looked at, and cancelled, where it lives in the same way.

#include "base/tenancy.h"
#include "json/value.h"
#include "json/writer.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"
#include "schedule/scheduler.h"

namespace rf::schedule {
namespace {

reactor::Task<Result<engine::RunView>> StartOn(engine::StartCommand cmd) {
  return engine::Coordinator::Local().Start(std::move(cmd));
}
reactor::Task<Result<engine::RunView>> GetOn(engine::RunId id, std::string ns) {
  return engine::Coordinator::Local().Get(id, std::move(ns));
}
reactor::Task<Result<engine::RunView>> CancelOn(engine::RunId id, std::string ns) {
  return engine::Coordinator::Local().Cancel(id, std::move(ns));
}

std::string Prefix(std::string_view ns) {
  if (ns == kDefaultNamespace) return "/v1";
  return "/v1/namespaces/" + std::string(ns);
}

}  // namespace

reactor::Task<Result<engine::RunView>> Scheduler::StartHere(engine::StartCommand cmd) {
  const unsigned owner = engine_->OwnerOf(cmd.partition);
  if (owner == shard_) co_return co_await engine::Coordinator::Local().Start(std::move(cmd));  // suspends
  auto op = reactor::SubmitTo(owner, &StartOn, std::move(cmd));
  co_return co_await op;  // suspends
}

reactor::Task<Result<engine::RunView>> Scheduler::StartRun(engine::StartCommand cmd, std::string ns,
                                                           std::string plain, bool latest,
                                                           uint32_t home) {
  const uint32_t partition = cmd.partition;
  // A fire sent to its key's partition keeps a copy for the schedule's own partition: when the
  // key's holder cannot take it, the fire still runs there (counted apart from the key's runs,
  // as before the routing) rather than being lost.
  std::optional<engine::StartCommand> fallback;
  if (partition != home) {
    fallback.emplace(cmd);
    fallback->partition = home;
  }
  json::Value input = cmd.input;  // copied before the command moves: what a forward needs
  std::string key = cmd.idempotency_key;
  const int64_t pinned = latest ? 0 : cmd.def->version;  // the API starts the latest unless told
  Result<engine::RunView> r = co_await StartHere(std::move(cmd));  // suspends
  if (r || r.error().code != Errc::kNotHeld) co_return r;
  if (!forward_ || !*forward_) {
    if (fallback) co_return co_await StartHere(std::move(*fallback));  // suspends
    co_return r;
  }
  json::Object body{{"input", std::move(input)}};
  if (pinned) body.emplace_back("version", pinned);
  RunRequest req;
  req.partition = partition;
  req.method = "POST";
  req.path = Prefix(ns) + "/workflows/" + plain + "/runs";
  req.body = json::ToString(json::Value(std::move(body)));
  req.idempotency_key = std::move(key);
  auto sent = co_await (*forward_)(std::move(req));  // suspends
  // kNotHeld from a forward: the holder refused the fire (no credential with --auth on).
  if (!sent && sent.error().code == Errc::kNotHeld && fallback)
    co_return co_await StartHere(std::move(*fallback));  // suspends
  co_return sent;
}

reactor::Task<Result<engine::RunView>> Scheduler::GetRun(engine::RunId id, std::string ns) {
  return OnRun(id, std::move(ns), false);
}

reactor::Task<Result<engine::RunView>> Scheduler::CancelRun(engine::RunId id, std::string ns) {
  return OnRun(id, std::move(ns), true);
}

reactor::Task<Result<engine::RunView>> Scheduler::OnRun(engine::RunId id, std::string ns, bool cancel) {
  const unsigned owner = engine_->OwnerOf(id);
  Result<engine::RunView> r = Error{Errc::kInternal, ""};
  if (owner == shard_) {
    // Not `cancel ? co_await ... : co_await ...`: GCC 12 miscompiles co_await in a conditional.
    if (cancel) {
      r = co_await engine::Coordinator::Local().Cancel(id, ns);  // suspends
    } else {
      r = co_await engine::Coordinator::Local().Get(id, ns);  // suspends
    }
  } else {
    auto op = reactor::SubmitTo(owner, cancel ? &CancelOn : &GetOn, id, ns);
    r = co_await op;  // suspends
  }
  if (r || r.error().code != Errc::kNotHeld || !forward_ || !*forward_) co_return r;
  RunRequest req;
  req.partition = id.partition();
  req.method = cancel ? "POST" : "GET";
  req.path = Prefix(ns) + "/runs/" + id.ToString() + (cancel ? "/cancel" : "");
  co_return co_await (*forward_)(std::move(req));  // suspends
}

}  // namespace rf::schedule

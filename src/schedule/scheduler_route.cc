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

reactor::Task<Result<engine::RunView>> Scheduler::StartRun(engine::StartCommand cmd, std::string ns,
                                                           std::string plain, bool latest) {
  const uint32_t partition = cmd.partition;
  const unsigned owner = engine_->OwnerOf(partition);
  // Copied before the command moves: what a forward needs.
  json::Value input = cmd.input;
  std::string key = cmd.idempotency_key;
  Result<engine::RunView> r = Error{Errc::kInternal, ""};
  if (owner == shard_) {
    r = co_await engine::Coordinator::Local().Start(std::move(cmd));  // suspends
  } else {
    auto op = reactor::SubmitTo(owner, &StartOn, std::move(cmd));
    r = co_await op;  // suspends
  }
  if (r || r.error().code != Errc::kNotHeld || !forward_ || !*forward_) co_return r;
  // The API's start takes the latest version: a fire of a pinned older one cannot be sent.
  if (!latest)
    co_return Error{Errc::kUnavailable,
                    "the key's partition is held by another instance, and a pinned version that is "
                    "not the latest is not started there"};
  RunRequest req;
  req.partition = partition;
  req.method = "POST";
  req.path = Prefix(ns) + "/workflows/" + plain + "/runs";
  req.body = json::ToString(json::Value(json::Object{{"input", std::move(input)}}));
  req.idempotency_key = std::move(key);
  co_return co_await (*forward_)(std::move(req));  // suspends
}

reactor::Task<Result<engine::RunView>> Scheduler::GetRun(engine::RunId id, std::string ns) {
  const unsigned owner = engine_->OwnerOf(id);
  Result<engine::RunView> r = Error{Errc::kInternal, ""};
  if (owner == shard_) {
    r = co_await engine::Coordinator::Local().Get(id, ns);  // suspends
  } else {
    auto op = reactor::SubmitTo(owner, &GetOn, id, ns);
    r = co_await op;  // suspends
  }
  if (r || r.error().code != Errc::kNotHeld || !forward_ || !*forward_) co_return r;
  RunRequest req;
  req.partition = id.partition();
  req.method = "GET";
  req.path = Prefix(ns) + "/runs/" + id.ToString();
  co_return co_await (*forward_)(std::move(req));  // suspends
}

reactor::Task<Result<engine::RunView>> Scheduler::CancelRun(engine::RunId id, std::string ns) {
  const unsigned owner = engine_->OwnerOf(id);
  Result<engine::RunView> r = Error{Errc::kInternal, ""};
  if (owner == shard_) {
    r = co_await engine::Coordinator::Local().Cancel(id, ns);  // suspends
  } else {
    auto op = reactor::SubmitTo(owner, &CancelOn, id, ns);
    r = co_await op;  // suspends
  }
  if (r || r.error().code != Errc::kNotHeld || !forward_ || !*forward_) co_return r;
  RunRequest req;
  req.partition = id.partition();
  req.method = "POST";
  req.path = Prefix(ns) + "/runs/" + id.ToString() + "/cancel";
  co_return co_await (*forward_)(std::move(req));  // suspends
}

}  // namespace rf::schedule

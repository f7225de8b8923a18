// /v1 runs: start, read, list, cancel, signal, retry, dead-letter. Every run
// command runs on the run's owner shard (partition -> ring -> shard).

#include <algorithm>
#include <charconv>

#include "api/detail/common.h"
#include "api/forward.h"
#include "api/quotas.h"
#include "api/v1.h"
#include "base/duration.h"
#include "json/writer.h"
#include "reactor/submit_to.h"
#include "trace/trace_context.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using engine::Coordinator;
using engine::RunView;
using http::RequestContext;

constexpr Nanos kMaxWait = 5 * 60 * kSeconds;

reactor::Task<Result<RunView>> StartOn(engine::StartCommand cmd) {
  return Coordinator::Local().Start(std::move(cmd));
}

reactor::Task<Result<RunView>> GetOn(engine::RunId id, std::string ns) {
  return Coordinator::Local().Get(id, std::move(ns));
}

enum class Kind { kCancel, kSignal, kRetry };

reactor::Task<Result<RunView>> CommandOn(Kind kind, engine::RunId id, std::string name,
                                         json::Value payload, std::string ns) {
  Coordinator& c = Coordinator::Local();
  switch (kind) {
    case Kind::kCancel: return c.Cancel(id, std::move(ns));
    case Kind::kSignal: return c.Signal(id, std::move(name), std::move(payload), std::move(ns));
    case Kind::kRetry: break;
  }
  return c.Retry(id, std::move(ns));
}

reactor::Task<void> StartRun(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {"wait"}, rc.resp) ||
      !detail::CheckJsonContentType(rc.req, rc.resp))
    co_return;
  std::string_view name = rc.params.Get("name");
  const std::string qualified = detail::QualifiedName(rc, name);
  const auto* def = Coordinator::Local().registry().Latest(qualified);
  if (!def) {
    rc.resp.Error(404, "workflow_not_found", "no workflow named '" + std::string(name) + "'");
    co_return;
  }
  const unsigned shard = reactor::Shard::Current().id();
  if (ctx.quotas && !ctx.quotas->AdmitStart(shard, detail::Namespace(rc), rc.resp)) co_return;
  engine::StartCommand cmd;
  cmd.def = *def;
  if (ctx.quotas) cmd.live_limit = ctx.quotas->LiveLimit(shard, detail::Namespace(rc));
  bool bad = false;
  if (auto w = detail::QueryParam(rc.req.query, "wait", bad)) {
    auto wait = rf::ParseDuration(*w);
    if (!wait || *wait > kMaxWait) {
      rc.resp.Error(400, "invalid_argument",
                    "wait must be a duration such as 250ms, 5s or 1m, at most 5m");
      co_return;
    }
    cmd.wait = *wait;
  }
  if (bad) {
    rc.resp.Error(400, "invalid_argument", "malformed percent-encoding in the query");
    co_return;
  }
  if (!rc.req.body.empty()) {
    auto body = detail::ParseBody(rc.req, rc.resp);
    if (!body) co_return;
    if (!body->is_object()) {
      rc.resp.Error(400, "invalid_argument", "the body must be an object: {\"input\": ..., \"priority\": ...}");
      co_return;
    }
    for (auto& [k, v] : body->as_object()) {
      if (k == "input") {
        if (!detail::CheckLimits(v, "input", "/input", rc.resp)) co_return;
        cmd.input = std::move(v);
      } else if (k == "priority") {
        if (!v.is_string() || !engine::ParsePriority(v.as_string(), cmd.priority)) {
          rc.resp.Error(400, "invalid_argument", "priority must be \"critical\", \"default\" or \"low\"",
                        "/priority");
          co_return;
        }
      } else if (k == "version") {
        // A version other than the latest (a workflow step that pins one; by default the latest).
        const auto* pinned = v.is_int() && v.as_int() > 0
                                 ? Coordinator::Local().registry().Find(qualified, v.as_int())
                                 : nullptr;
        if (!v.is_int() || v.as_int() <= 0) {
          rc.resp.Error(400, "invalid_argument", "version must be a positive integer", "/version");
          co_return;
        }
        if (!pinned) {
          rc.resp.Error(404, "workflow_not_found", "workflow '" + std::string(name) + "' has no version " +
                                                       std::to_string(v.as_int()));
          co_return;
        }
        cmd.def = *pinned;
      } else {
        rc.resp.Error(400, "invalid_argument", "unknown field '" + k + "' (expected input, priority, version)",
                      "/" + k);
        co_return;
      }
    }
  }
  if (std::string_view link = rc.req.Header(kParentHeader); !link.empty()) {
    // A child run another daemon starts here, on its key's partition: only a daemon of the
    // cluster may name a parent (a signed peer; anyone when authentication is off).
    if (rc.who && rc.who->authenticated && rc.who->subject != "peer") {
      rc.resp.Error(403, "forbidden", std::string(kParentHeader) + " is for the daemons of the cluster");
      co_return;
    }
    auto parent = engine::ParseParentHeader(link);
    if (!parent) {
      rc.resp.Error(400, "invalid_argument", std::string(kParentHeader) +
                                                 " must be <run id>;<attempt>;<depth>;<step id>");
      co_return;
    }
    cmd.parent = std::move(*parent);
  }
  std::string_view key = rc.req.Header("Idempotency-Key");
  if (!detail::CheckIdempotencyKey(key, rc.resp)) co_return;
  cmd.idempotency_key = std::string(key);
  // W3C: a traceparent that does not parse is ignored (the run starts a trace of its own).
  if (auto tp = trace::ParseTraceparent(rc.req.Header("traceparent"))) cmd.trace_parent = *tp;
  cmd.partition = ctx.engine->PartitionForStart(*cmd.def, cmd.input, key);
  const uint32_t partition = cmd.partition;
  const Nanos wait = cmd.wait;
  Result<RunView> r = co_await detail::StartOnOwner(ctx, std::move(cmd));  // suspends
  if (!r && r.error().code == Errc::kNotHeld) {
    co_await Forward(ctx, rc, partition, r.error(), wait);  // suspends
    co_return;
  }
  if (!r) {
    if (r.error().code == Errc::kLimited && ctx.quotas) ctx.quotas->CountLiveRejected(shard);
    detail::ReplyError(rc.resp, r.error(), "run_not_found");
    co_return;
  }
  int status = r->created ? 201 : 200;
  if (wait > 0 && !r->terminal) status = 202;
  detail::ReplyJson(rc.resp, status, r->json);
}

reactor::Task<void> GetRun(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  auto id = detail::PathRunId(rc);
  if (!id) co_return;
  // Most GETs of old runs end here, on the shard that read the request. Under W3 at 200 clients
  // the hop to the owner and back (two more turns of busy shards) was most of their latency:
  // p50/p99 0.7/9 ms with it, 0.2/4 ms without (1M runs, GET and dead-letter readers).
  auto now = co_await ctx.engine->GetFinished(*id, std::string(detail::Namespace(rc)));  // suspends
  if (now) {
    if (!*now) {
      detail::ReplyError(rc.resp, now->error(), "run_not_found");
    } else {
      detail::ReplyJson(rc.resp, 200, (*now)->json);
    }
    co_return;
  }
  auto op = reactor::SubmitTo(ctx.engine->OwnerOf(*id), &GetOn, *id, std::string(detail::Namespace(rc)));
  Result<RunView> r = co_await op;  // suspends
  if (!r && r.error().code == Errc::kNotHeld) {
    co_await Forward(ctx, rc, id->partition(), r.error());  // suspends
    co_return;
  }
  if (!r) {
    detail::ReplyError(rc.resp, r.error(), "run_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200, r->json);
}

reactor::Task<void> RunCommand(ApiContext& ctx, RequestContext& rc, Kind kind) {
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  auto id = detail::PathRunId(rc);
  if (!id) co_return;
  json::Value payload;
  if (kind == Kind::kSignal) {
    if (!detail::CheckJsonContentType(rc.req, rc.resp)) co_return;
    if (!rc.req.body.empty()) {
      auto body = detail::ParseBody(rc.req, rc.resp);
      if (!body || !detail::CheckLimits(*body, "signal payload", "", rc.resp)) co_return;
      payload = std::move(*body);
    }
  } else if (!rc.req.body.empty()) {
    rc.resp.Error(400, "invalid_argument", "this request takes no body");
    co_return;
  }
  auto op = reactor::SubmitTo(ctx.engine->OwnerOf(*id), &CommandOn, kind, *id,
                              std::string(rc.params.Get("signal")), std::move(payload),
                              std::string(detail::Namespace(rc)));
  Result<RunView> r = co_await op;  // suspends
  if (!r && r.error().code == Errc::kNotHeld) {
    co_await Forward(ctx, rc, id->partition(), r.error());  // suspends
    co_return;
  }
  if (!r) {
    bool step = kind == Kind::kSignal && r.error().code == Errc::kNotFound &&
                r.error().context.starts_with("no approval step");
    detail::ReplyError(rc.resp, r.error(), step ? "step_not_found" : "run_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200, r->json);
}

reactor::Task<void> Cancel(void* p, RequestContext& rc) {
  return RunCommand(*static_cast<ApiContext*>(p), rc, Kind::kCancel);
}
reactor::Task<void> Signal(void* p, RequestContext& rc) {
  return RunCommand(*static_cast<ApiContext*>(p), rc, Kind::kSignal);
}
reactor::Task<void> Retry(void* p, RequestContext& rc) {
  return RunCommand(*static_cast<ApiContext*>(p), rc, Kind::kRetry);
}

// Parses workflow/status/limit/cursor; writes a 400 and returns false on a bad value.
bool ParseQuery(const RequestContext& rc, engine::RunQuery& q, bool dead_letter) {
  bool bad = false;
  auto fail = [&](std::string msg) {
    rc.resp.Error(400, "invalid_argument", msg);
    return false;
  };
  if (dead_letter ? !detail::OnlyParams(rc.req.query, {"workflow", "limit", "cursor"}, rc.resp)
                  : !detail::OnlyParams(rc.req.query, {"workflow", "status", "limit", "cursor"}, rc.resp))
    return false;
  q.dead_letter = dead_letter;
  q.ns = std::string(detail::Namespace(rc));
  if (auto w = detail::QueryParam(rc.req.query, "workflow", bad)) q.workflow = detail::QualifiedName(rc, *w);
  if (auto s = detail::QueryParam(rc.req.query, "status", bad)) {
    if (!engine::ParseRunStatus(*s, q.status))
      return fail("status must be pending, running, waiting, succeeded, failed or cancelled");
    q.any_status = false;
  }
  if (auto l = detail::QueryParam(rc.req.query, "limit", bad)) {
    size_t n = 0;
    auto [end, ec] = std::from_chars(l->data(), l->data() + l->size(), n);
    if (ec != std::errc() || end != l->data() + l->size() || n < 1 || n > 1000)
      return fail("limit must be an integer from 1 to 1000");
    q.limit = n;
  }
  if (auto c = detail::QueryParam(rc.req.query, "cursor", bad)) {
    auto id = engine::ParseRunId(*c);
    if (!id) return fail("cursor is not one this API returned");
    q.before = *id;
  }
  if (bad) return fail("malformed percent-encoding in the query");
  return true;
}

reactor::Task<void> ListRuns(ApiContext& ctx, RequestContext& rc, bool dead_letter) {
  if (!detail::EngineReady(ctx, rc.resp)) co_return;
  engine::RunQuery q;
  if (!ParseQuery(rc, q, dead_letter)) co_return;
  auto page = co_await ctx.engine->List(q);  // suspends
  if (!page) {
    detail::ReplyError(rc.resp, page.error(), "run_not_found");
    co_return;
  }
  const auto& all = page->runs;
  const bool more = page->more;
  std::string out = "{\"runs\":[";
  for (size_t i = 0; i < all.size(); ++i) {
    if (i) out += ',';
    out += all[i].second;
  }
  out += "],\"next_cursor\":";
  out += more && !all.empty() ? "\"" + all.back().first.ToString() + "\"" : std::string("null");
  out += '}';
  detail::ReplyJson(rc.resp, 200, out);
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  return ListRuns(*static_cast<ApiContext*>(p), rc, false);
}
reactor::Task<void> DeadLetter(void* p, RequestContext& rc) {
  return ListRuns(*static_cast<ApiContext*>(p), rc, true);
}

}  // namespace

namespace detail {

reactor::Task<Result<RunView>> StartOnOwner(const ApiContext& ctx, engine::StartCommand cmd) {
  const unsigned owner = ctx.engine->OwnerOf(cmd.partition);
  if (owner == reactor::Shard::Current().id()) {
    // The usual case (a start without a key lands on a partition this shard owns):
    // no mailbox round trip to ourselves.
    co_return co_await Coordinator::Local().Start(std::move(cmd));  // suspends
  }
  auto op = reactor::SubmitTo(owner, &StartOn, std::move(cmd));
  co_return co_await op;  // suspends
}

bool CheckIdempotencyKey(std::string_view key, http::Response& resp) {
  constexpr size_t kMaxIdempotencyKey = 256;
  if (key.size() <= kMaxIdempotencyKey &&
      std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
    return true;
  resp.Error(400, "invalid_argument", "Idempotency-Key must be at most 256 printable ASCII characters");
  return false;
}

}  // namespace detail

void AddRunRoutes(Routes& routes, detail::ApiContext* ctx) {
  using http::Method;
  routes.AddScoped(Method::kPost, "/v1/workflows/{name}/runs", auth::Access::kRunsStart, {nullptr, &StartRun, ctx});
  routes.AddScoped(Method::kGet, "/v1/runs", auth::Access::kRead, {nullptr, &List, ctx});
  routes.AddScoped(Method::kGet, "/v1/runs/{id}", auth::Access::kRead, {nullptr, &GetRun, ctx});
  routes.AddScoped(Method::kPost, "/v1/runs/{id}/cancel", auth::Access::kRunsControl, {nullptr, &Cancel, ctx});
  routes.AddScoped(Method::kPost, "/v1/runs/{id}/signals/{signal}", auth::Access::kRunsControl, {nullptr, &Signal, ctx});
  routes.AddScoped(Method::kPost, "/v1/runs/{id}/retry", auth::Access::kRunsControl, {nullptr, &Retry, ctx});
  routes.AddScoped(Method::kGet, "/v1/dead-letter", auth::Access::kRead, {nullptr, &DeadLetter, ctx});
}

}  // namespace rf::api

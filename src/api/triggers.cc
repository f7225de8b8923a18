// POST /v1/events/{type}: an event starts a run of every workflow of the namespace whose
// definition has a trigger for that type (and whose trigger condition holds for the body). With
// an Idempotency-Key each of those runs gets the key "event:<type>:<key>", so the same event sent
// again (a webhook retried) meets the runs it started instead of starting more.

#include "api/detail/common.h"
#include "api/quotas.h"
#include "api/v1.h"
#include "json/parse.h"
#include "json/writer.h"
#include "reactor/shard.h"
#include "trace/trace_context.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

constexpr std::string_view kTypeRule = "1 to 128 characters of A-Z a-z 0-9 . _ : -";

const engine::Trigger* TriggerFor(const engine::Definition& def, std::string_view type) {
  for (const engine::Trigger& t : def.triggers)
    if (t.event == type) return &t;
  return nullptr;
}

reactor::Task<void> Emit(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp) ||
      !detail::CheckJsonContentType(rc.req, rc.resp))
    co_return;
  const std::string type(rc.params.Get("type"));
  if (!engine::IsValidEventType(type)) {
    rc.resp.Error(400, "invalid_argument", "the event type must be " + std::string(kTypeRule));
    co_return;
  }
  const std::string_view key = rc.req.Header("Idempotency-Key");
  if (!detail::CheckIdempotencyKey(key, rc.resp)) co_return;
  json::Value input = json::Object{};
  if (!rc.req.body.empty()) {
    auto body = detail::ParseBody(rc.req, rc.resp);
    if (!body || !detail::CheckLimits(*body, "event", "", rc.resp)) co_return;
    input = std::move(*body);
  }
  const std::string ns(detail::Namespace(rc));
  const auto trace_parent = trace::ParseTraceparent(rc.req.Header("traceparent"));  // bad: ignored
  const unsigned shard = reactor::Shard::Current().id();
  // Copied: the shard's registry may be replaced while the starts below suspend.
  std::vector<std::shared_ptr<const engine::Definition>> subscribers;
  if (const auto* subs = engine::Coordinator::Local().registry().Subscribers(ns, type)) subscribers = *subs;

  json::Array runs;
  bool created_any = false;
  size_t unavailable = 0;
  for (const auto& def : subscribers) {
    const engine::Trigger* trigger = TriggerFor(*def, type);
    if (!trigger) continue;
    if (trigger->when && !trigger->when->Evaluate(json::Context{&input, nullptr, {}, def->name})) continue;
    if (ctx.quotas && !ctx.quotas->AdmitStart(shard, ns, rc.resp)) co_return;
    engine::StartCommand cmd;
    cmd.def = def;
    cmd.input = input;
    if (trace_parent) cmd.trace_parent = *trace_parent;
    if (!key.empty()) cmd.idempotency_key = "event:" + type + ":" + std::string(key);
    cmd.partition = ctx.engine->PartitionForStart(def->name, cmd.idempotency_key);
    if (ctx.quotas) cmd.live_limit = ctx.quotas->LiveLimit(shard, ns);
    const std::string name(SplitQualified(def->name).name);
    auto r = co_await detail::StartOnOwner(ctx, std::move(cmd));  // suspends
    if (!r) {
      if (r.error().code == Errc::kNotHeld || r.error().code == Errc::kUnavailable) {
        ++unavailable;
        runs.emplace_back(json::Object{{"workflow", name}, {"error", r.error().context}});
        continue;
      }
      if (r.error().code == Errc::kLimited && ctx.quotas) ctx.quotas->CountLiveRejected(shard);
      detail::ReplyError(rc.resp, r.error(), "workflow_not_found");
      co_return;
    }
    created_any = created_any || r->created;
    auto run = json::Parse(r->json);
    const json::Value* id = run ? run->Find("id") : nullptr;
    runs.emplace_back(json::Object{{"workflow", name},
                                   {"id", id ? *id : json::Value()},
                                   {"created", r->created}});
  }
  if (unavailable > 0) {
    // Some starts could not be made here now (their partition is moving or held elsewhere):
    // the event must be sent again; with the same Idempotency-Key nothing is started twice.
    rc.resp.Error(503, "unavailable",
                  std::to_string(unavailable) + " of the event's runs could not be started now; send "
                  "the event again" + std::string(key.empty() ? " (with an Idempotency-Key, so the runs "
                  "already started are not started twice)" : " with the same Idempotency-Key"));
    rc.resp.AddHeader("Retry-After", "1");
    co_return;
  }
  json::Object out{{"event", type}, {"namespace", ns}, {"runs", std::move(runs)}};
  detail::ReplyJson(rc.resp, created_any ? 201 : 200, json::ToString(json::Value(std::move(out))));
}

}  // namespace

void AddTriggerRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.AddScoped(http::Method::kPost, "/v1/events/{type}", auth::Access::kRunsStart, {nullptr, &Emit, ctx});
}

}  // namespace rf::api

// POST /v1/events/{type}: an event starts a run of every workflow of the namespace whose
// definition has a trigger for that type (and whose trigger condition holds for the body). With
// an Idempotency-Key each of those runs gets the key "event:<type>:<key>", so the same event sent
// again (a webhook retried) meets the runs it started instead of starting more.
//
// A trigger that names a `secret` fires only for an event signed with it: X-Signature carries
// "sha256=<hex HMAC-SHA256 of the raw body>" (several, comma-separated, when the event's
// triggers name different secrets). When any trigger that would fire is not satisfied the
// whole event is refused (401 invalid_signature) and nothing starts, so a sender learns at once
// and a retry with the right signature starts everything.

#include <algorithm>

#include "api/detail/common.h"
#include "api/quotas.h"
#include "api/v1.h"
#include "auth/crypto.h"
#include "auth/secret_service.h"
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

struct Firing {
  std::shared_ptr<const engine::Definition> def;
  const engine::Trigger* trigger;
};

// Whether `header` holds "sha256=<hex>" equal to the body's HMAC with `secret`.
bool SignedWith(std::string_view header, std::string_view secret, std::string_view body) {
  const std::string want = "sha256=" + auth::Hex(auth::HmacSha256(secret, body));
  bool found = false;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view part = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    std::string lower(part);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    found = auth::ConstantTimeEqual(lower, want) || found;  // no early exit: constant time per part
  }
  return found;
}

// Checks the signature of every secret the firing triggers name (each once). Replies 401 and
// returns false when one is missing, wrong, or its secret cannot be read in the namespace.
bool CheckSignatures(const ApiContext& ctx, std::string_view ns, RequestContext& rc,
                     const std::vector<Firing>& firing) {
  std::vector<std::string_view> checked;
  const std::string_view header = rc.req.Header("X-Signature");
  for (const Firing& f : firing) {
    const std::string& name = f.trigger->secret;
    if (name.empty() || std::find(checked.begin(), checked.end(), name) != checked.end()) continue;
    checked.push_back(name);
    const std::string workflow(SplitQualified(f.def->name).name);
    std::string problem;
    if (ctx.secrets == nullptr) {
      problem = "secrets are not available on this daemon";
    } else if (header.empty()) {
      problem = "the event has no X-Signature header";
    } else if (auto secret = ctx.secrets->Reveal(ns, name); !secret) {
      problem = secret.error().context;
    } else {
      const bool ok = SignedWith(header, *secret, rc.req.body);
      std::fill(secret->begin(), secret->end(), '\0');
      if (!ok) problem = "X-Signature does not match the body signed with the secret";
    }
    if (problem.empty()) continue;
    rc.resp.Error(401, "invalid_signature",
                  "the trigger of workflow '" + workflow + "' for this event needs X-Signature: "
                  "sha256=<hex HMAC-SHA256 of the body with secret '" + name + "'>: " + problem +
                  "; nothing was started");
    rc.resp.AddHeader("WWW-Authenticate", "Signature header=\"X-Signature\", algorithm=\"hmac-sha256\"");
    return false;
  }
  return true;
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

  std::vector<Firing> firing;
  for (auto& def : subscribers) {
    const engine::Trigger* trigger = TriggerFor(*def, type);
    if (!trigger) continue;
    if (trigger->when && !trigger->when->Evaluate(json::Context{&input, nullptr, {}, def->name})) continue;
    firing.push_back(Firing{std::move(def), trigger});
  }
  if (!CheckSignatures(ctx, ns, rc, firing)) co_return;

  json::Array runs;
  bool created_any = false;
  size_t unavailable = 0;
  for (const Firing& f : firing) {
    const auto& def = f.def;
    if (ctx.quotas && !ctx.quotas->AdmitStart(shard, ns, rc.resp)) co_return;
    engine::StartCommand cmd;
    cmd.def = def;
    cmd.input = input;
    if (trace_parent) cmd.trace_parent = *trace_parent;
    if (!key.empty()) cmd.idempotency_key = "event:" + type + ":" + std::string(key);
    cmd.partition = ctx.engine->PartitionForStart(*def, cmd.input, cmd.idempotency_key);
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

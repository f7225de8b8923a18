// /v1/schedules: workflows started on a cron schedule (schedule/scheduler.h). A schedule lives
// on the shard that owns the partition of its qualified name; every command is sent there.

#include <algorithm>

#include "api/detail/common.h"
#include "api/v1.h"
#include "base/tenancy.h"
#include "json/parse.h"
#include "json/writer.h"
#include "reactor/submit_to.h"
#include "schedule/scheduler.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;
using schedule::Scheduler;
using schedule::SpecError;

void ReplyInvalid(http::Response& resp, const std::vector<SpecError>& errors) {
  json::Array list;
  for (const auto& e : errors)
    list.emplace_back(json::Object{{"field", e.pointer}, {"message", e.message}});
  json::Object err{{"code", "invalid_schedule"},
                   {"message", errors.front().message},
                   {"field", errors.front().pointer},
                   {"errors", std::move(list)}};
  detail::ReplyJson(resp, 422,
                    json::ToString(json::Value(json::Object{{"error", std::move(err)}})));
}

// The schedulers answer, and the path names a schedule; else an error is written.
bool Ready(const ApiContext& ctx, RequestContext& rc, bool named) {
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp))
    return false;
  if (!ctx.schedules || !ctx.schedules->available()) {
    rc.resp.Error(503, "unavailable", "schedules are not served by this daemon");
    rc.resp.AddHeader("Retry-After", "1");
    return false;
  }
  if (!ctx.schedules->open()) {
    rc.resp.Error(503, "unavailable", "schedules are loading; retry");
    rc.resp.AddHeader("Retry-After", "1");
    return false;
  }
  if (named && !schedule::ValidScheduleName(rc.params.Get("name"))) {
    rc.resp.Error(400, "invalid_argument", "a schedule name is 1 to 128 of A-Z a-z 0-9 . _ -");
    return false;
  }
  return true;
}

reactor::Task<Result<schedule::PutResult>> PutOn(Scheduler* s, std::string name,
                                                 schedule::Spec spec) {
  return s->Put(std::move(name), std::move(spec));
}
Result<std::string> GetOn(Scheduler* s, std::string name) { return s->Get(name); }
std::vector<std::pair<std::string, std::string>> ListOn(Scheduler* s, std::string ns) {
  return s->List(ns);
}
reactor::Task<Status> DeleteOn(Scheduler* s, std::string name) {
  return s->Delete(std::move(name));
}
reactor::Task<Result<std::string>> PauseOn(Scheduler* s, std::string name, bool paused) {
  return s->SetPaused(std::move(name), paused);
}

reactor::Task<void> Put(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!Ready(ctx, rc, true) || !detail::CheckJsonContentType(rc.req, rc.resp)) co_return;
  if (rc.req.body.empty()) {
    rc.resp.Error(400, "invalid_json", "request body is empty: send the schedule");
    co_return;
  }
  auto body = detail::ParseBody(rc.req, rc.resp);
  if (!body) co_return;
  const std::string_view name = rc.params.Get("name");
  const std::string ns(detail::Namespace(rc));
  std::vector<SpecError> errors;
  schedule::Spec spec = schedule::ParseSpec(*body, name, errors);
  if (errors.empty() && !detail::CheckLimits(spec.input, "input", "/input", rc.resp)) co_return;
  if (errors.empty()) {
    // The workflow must exist when the schedule is made (a later delete makes fires pass over).
    const engine::Registry& reg = engine::Coordinator::Local().registry();
    const std::string workflow = rf::QualifiedName(ns, spec.workflow);
    if (!reg.Latest(workflow)) {
      errors.push_back(
          {"/workflow", "no workflow named '" + spec.workflow + "' in namespace '" + ns + "'"});
    } else if (spec.version > 0 && !reg.Find(workflow, spec.version)) {
      errors.push_back({"/version", "workflow '" + spec.workflow + "' has no version " +
                                        std::to_string(spec.version)});
    }
  }
  if (!errors.empty()) {
    std::sort(errors.begin(), errors.end(),
              [](const SpecError& a, const SpecError& b) { return a.pointer < b.pointer; });
    ReplyInvalid(rc.resp, errors);
    co_return;
  }
  const std::string qualified = detail::QualifiedName(rc, name);
  const unsigned owner = ctx.schedules->OwnerOf(qualified);
  auto op = reactor::SubmitTo(owner, &PutOn, &ctx.schedules->On(owner), qualified, std::move(spec));
  auto r = co_await op;  // suspends
  if (!r) {
    detail::ReplyError(rc.resp, r.error(), "schedule_not_found");
    co_return;
  }
  if (r->invalid) {
    ReplyInvalid(rc.resp, {*r->invalid});
    co_return;
  }
  detail::ReplyJson(rc.resp, r->created ? 201 : 200, r->json);
}

reactor::Task<void> GetOne(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!Ready(ctx, rc, true)) co_return;
  const std::string qualified = detail::QualifiedName(rc, rc.params.Get("name"));
  const unsigned owner = ctx.schedules->OwnerOf(qualified);
  auto op = reactor::SubmitTo(owner, &GetOn, &ctx.schedules->On(owner), qualified);
  auto r = co_await op;  // suspends
  if (!r) {
    detail::ReplyError(rc.resp, r.error(), "schedule_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200, *r);
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!Ready(ctx, rc, false)) co_return;
  const std::string ns(detail::Namespace(rc));
  std::vector<std::pair<std::string, std::string>> all;
  for (unsigned i = 0; i < ctx.schedules->shards(); ++i) {
    auto op = reactor::SubmitTo(i, &ListOn, &ctx.schedules->On(i), ns);
    auto part = co_await op;  // suspends
    for (auto& x : part) all.push_back(std::move(x));
  }
  std::sort(all.begin(), all.end());
  std::string out = "{\"namespace\":";
  Buffer b;
  json::WriteString(ns, b);
  out += b.view();
  out += ",\"schedules\":[";
  for (size_t i = 0; i < all.size(); ++i) {
    if (i) out += ",";
    out += all[i].second;
  }
  out += "]}";
  detail::ReplyJson(rc.resp, 200, out);
}

reactor::Task<void> Delete(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!Ready(ctx, rc, true)) co_return;
  const std::string name(rc.params.Get("name"));
  const std::string qualified = detail::QualifiedName(rc, name);
  const unsigned owner = ctx.schedules->OwnerOf(qualified);
  auto op = reactor::SubmitTo(owner, &DeleteOn, &ctx.schedules->On(owner), qualified);
  Status st = co_await op;  // suspends
  if (!st) {
    detail::ReplyError(rc.resp, st.error(), "schedule_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200,
                    json::ToString(json::Value(json::Object{{"name", name}, {"deleted", true}})));
}

reactor::Task<void> SetPaused(ApiContext& ctx, RequestContext& rc, bool paused) {
  if (!Ready(ctx, rc, true) || !detail::CheckJsonContentType(rc.req, rc.resp)) co_return;
  if (!rc.req.body.empty()) {
    rc.resp.Error(400, "invalid_argument", "pause and resume take no body");
    co_return;
  }
  const std::string qualified = detail::QualifiedName(rc, rc.params.Get("name"));
  const unsigned owner = ctx.schedules->OwnerOf(qualified);
  auto op = reactor::SubmitTo(owner, &PauseOn, &ctx.schedules->On(owner), qualified, paused);
  auto r = co_await op;  // suspends
  if (!r) {
    detail::ReplyError(rc.resp, r.error(), "schedule_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200, *r);
}

reactor::Task<void> Pause(void* p, RequestContext& rc) {
  return SetPaused(*static_cast<ApiContext*>(p), rc, true);
}
reactor::Task<void> Resume(void* p, RequestContext& rc) {
  return SetPaused(*static_cast<ApiContext*>(p), rc, false);
}

}  // namespace

void AddScheduleRoutes(Routes& routes, detail::ApiContext* ctx) {
  using auth::Access;
  using http::Method;
  routes.AddScoped(Method::kGet, "/v1/schedules", Access::kRead, {nullptr, &List, ctx});
  routes.AddScoped(Method::kPut, "/v1/schedules/{name}", Access::kWorkflowsWrite,
                   {nullptr, &Put, ctx});
  routes.AddScoped(Method::kGet, "/v1/schedules/{name}", Access::kRead, {nullptr, &GetOne, ctx});
  routes.AddScoped(Method::kDelete, "/v1/schedules/{name}", Access::kWorkflowsWrite,
                   {nullptr, &Delete, ctx});
  routes.AddScoped(Method::kPost, "/v1/schedules/{name}/pause", Access::kWorkflowsWrite,
                   {nullptr, &Pause, ctx});
  routes.AddScoped(Method::kPost, "/v1/schedules/{name}/resume", Access::kWorkflowsWrite,
                   {nullptr, &Resume, ctx});
}

}  // namespace rf::api

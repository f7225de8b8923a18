// /v1/workflows: definitions. Changes run on shard 0, which owns the master
// registry; reads use the calling shard's published copy.

#include <charconv>

#include "api/detail/common.h"
#include "api/v1.h"
#include "base/tenancy.h"
#include "json/parse.h"
#include "json/writer.h"
#include "reactor/submit_to.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

reactor::Task<Result<engine::Engine::PutOutcome>> PutOn0(engine::Engine* e, std::string name,
                                                         std::string source) {
  return e->Put(std::move(name), std::move(source));
}

reactor::Task<Status> DeleteOn0(engine::Engine* e, std::string name) {
  return e->Delete(std::move(name));
}

void ReplyInvalid(http::Response& resp, const engine::Compiled& c) {
  json::Array errors;
  for (const auto& e : c.errors) errors.emplace_back(json::Object{{"field", e.pointer}, {"message", e.message}});
  json::Object err{{"code", "invalid_definition"},
                   {"message", c.errors.front().message},
                   {"field", c.errors.front().pointer},
                   {"errors", std::move(errors)}};
  if (c.omitted_errors) err.emplace_back("omitted_errors", static_cast<int64_t>(c.omitted_errors));
  detail::ReplyJson(resp, 422, json::ToString(json::Value(json::Object{{"error", std::move(err)}})));
}

reactor::Task<void> Put(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp) ||
      !detail::CheckJsonContentType(rc.req, rc.resp))
    co_return;
  if (rc.req.body.empty()) {
    rc.resp.Error(400, "invalid_json", "request body is empty: send the workflow definition");
    co_return;
  }
  if (rc.req.body.size() > engine::kMaxDefinitionBytes) {
    rc.resp.Error(413, "payload_too_large", "a definition is at most 1 MiB");
    co_return;
  }
  if (!detail::ParseBody(rc.req, rc.resp)) co_return;  // 400 for text that is not JSON at all
  auto op = reactor::SubmitTo(0, &PutOn0, ctx.engine, detail::QualifiedName(rc, rc.params.Get("name")),
                              std::string(rc.req.body));
  auto r = co_await op;  // suspends
  if (!r) {
    detail::ReplyError(rc.resp, r.error());
    co_return;
  }
  if (!r->compiled.errors.empty()) {
    ReplyInvalid(rc.resp, r->compiled);
    co_return;
  }
  json::Object o{{"name", std::string(rc.params.Get("name"))},
                 {"namespace", std::string(detail::Namespace(rc))},
                 {"version", r->version},
                 {"created", r->created}};
  detail::ReplyJson(rc.resp, r->created ? 201 : 200, json::ToString(json::Value(std::move(o))));
}

void List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) return;
  json::Array list;
  const std::string_view ns = detail::Namespace(rc);
  for (const auto& [name, w] : engine::Coordinator::Local().registry().workflows()) {
    if (w.deleted || w.versions.empty()) continue;
    const ScopedName scoped = SplitQualified(name);
    if (scoped.ns != ns) continue;
    list.emplace_back(json::Object{{"name", std::string(scoped.name)},
                                   {"version", w.versions.back()->version},
                                   {"versions", static_cast<int64_t>(w.versions.size())},
                                   {"steps", static_cast<int64_t>(w.versions.back()->steps.size())}});
  }
  detail::ReplyJson(rc.resp, 200,
                    json::ToString(json::Value(json::Object{{"workflows", std::move(list)}})));
}

void GetOne(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {"version"}, rc.resp))
    return;
  std::string_view name = rc.params.Get("name");
  const std::string qualified = detail::QualifiedName(rc, name);
  const engine::Registry& reg = engine::Coordinator::Local().registry();
  const std::shared_ptr<const engine::Definition>* def = reg.Latest(qualified);
  if (!def) {
    rc.resp.Error(404, "workflow_not_found", "no workflow named '" + std::string(name) + "'");
    return;
  }
  bool bad = false;
  if (auto v = detail::QueryParam(rc.req.query, "version", bad)) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n < 1) {
      rc.resp.Error(400, "invalid_argument", "version must be a positive integer");
      return;
    }
    def = reg.Find(qualified, n);
    if (!def) {
      rc.resp.Error(404, "workflow_not_found",
                    "workflow '" + std::string(name) + "' has no version " + std::to_string(n));
      return;
    }
  } else if (bad) {
    rc.resp.Error(400, "invalid_argument", "malformed percent-encoding in the query");
    return;
  }
  auto source = json::Parse((*def)->source, {.max_bytes = engine::kMaxDefinitionBytes, .max_depth = 1024});
  json::Object o{{"name", std::string(name)}, {"namespace", std::string(detail::Namespace(rc))},
                 {"version", (*def)->version},
                 {"definition", source ? std::move(*source) : json::Value((*def)->source)}};
  detail::ReplyJson(rc.resp, 200, json::ToString(json::Value(std::move(o))));
}

reactor::Task<void> Delete(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  std::string name(rc.params.Get("name"));
  auto op = reactor::SubmitTo(0, &DeleteOn0, ctx.engine, detail::QualifiedName(rc, name));
  Status st = co_await op;  // suspends
  if (!st) {
    detail::ReplyError(rc.resp, st.error(), "workflow_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200,
                    json::ToString(json::Value(json::Object{{"name", name}, {"deleted", true}})));
}

}  // namespace

void AddWorkflowRoutes(Routes& routes, detail::ApiContext* ctx) {
  using http::Method;
  routes.AddScoped(Method::kGet, "/v1/workflows", auth::Access::kRead, {&List, nullptr, ctx});
  routes.AddScoped(Method::kPut, "/v1/workflows/{name}", auth::Access::kWorkflowsWrite, {nullptr, &Put, ctx});
  routes.AddScoped(Method::kGet, "/v1/workflows/{name}", auth::Access::kRead, {&GetOne, nullptr, ctx});
  routes.AddScoped(Method::kDelete, "/v1/workflows/{name}", auth::Access::kWorkflowsWrite, {nullptr, &Delete, ctx});
}

}  // namespace rf::api

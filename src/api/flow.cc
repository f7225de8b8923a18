// GET /v1/workflows/{name}/concurrency: the keys of a workflow's "concurrency" limit that have
// live or queued runs, read from every shard (a key lives on the one shard holding its
// partition), busiest first. In a cluster each daemon answers for the keys it holds.
// "steps": the same for the per-key limits of its http steps (engine/permit_table.h): each
// (scope, key) with permits in use or attempts waiting, from the keys' home shards; a step
// naming a shared "scope" shows every key of the scope, whichever workflow uses it.

#include <algorithm>
#include <charconv>

#include "api/detail/common.h"
#include "api/v1.h"
#include "json/writer.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

reactor::Task<void> Get(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {"limit"}, rc.resp))
    co_return;
  const std::string name(rc.params.Get("name"));
  const std::string qualified = detail::QualifiedName(rc, name);
  const auto* def = engine::Coordinator::Local().registry().Latest(qualified);
  if (!def) {
    rc.resp.Error(404, "workflow_not_found", "no workflow named '" + name + "'");
    co_return;
  }
  bool bad = false;
  size_t limit = 100;
  if (auto l = detail::QueryParam(rc.req.query, "limit", bad)) {
    auto [end, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc() || end != l->data() + l->size() || limit < 1 || limit > 1000) {
      rc.resp.Error(400, "invalid_argument", "limit must be an integer from 1 to 1000");
      co_return;
    }
  }
  if (bad) {
    rc.resp.Error(400, "invalid_argument", "malformed percent-encoding in the query");
    co_return;
  }
  // One more than asked from each shard, to tell whether there are more.
  std::vector<engine::FlowKeyView> keys = co_await ctx.engine->FlowKeys(qualified, limit + 1);  // suspends
  json::Array list;
  int64_t live = 0, queued = 0;
  for (const engine::FlowKeyView& k : keys) {
    live += k.live;
    queued += k.queued;
    if (list.size() == limit) continue;
    list.emplace_back(json::Object{{"key", k.key},
                                   {"live", k.live},
                                   {"queued", k.queued},
                                   {"limit", k.limit},
                                   {"shard", static_cast<int64_t>(k.shard)}});
  }
  // The step limits: one scope per http step with "concurrency" (shared scopes listed once).
  std::vector<std::string> scopes;
  json::Array step_specs;
  for (const engine::Step& s : (*def)->steps) {
    if (!s.permits) continue;
    std::string scope = engine::PermitScope(qualified, s.id, s.permits->scope);
    json::Object spec{{"step", s.id}, {"limit", s.permits->limit}, {"key", s.permits->key_source}};
    if (!s.permits->scope.empty()) spec.emplace_back("scope", s.permits->scope);
    step_specs.emplace_back(std::move(spec));
    if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) scopes.push_back(std::move(scope));
  }
  json::Array step_keys;
  int64_t in_use = 0, waiting = 0;
  bool step_more = false;
  if (!scopes.empty()) {
    std::vector<engine::PermitKeyView> pk = co_await ctx.engine->PermitKeys(scopes, limit + 1);  // suspends
    step_more = pk.size() > limit;
    for (const engine::PermitKeyView& k : pk) {
      in_use += k.in_use;
      waiting += k.waiting;
      if (step_keys.size() == limit) continue;
      // A step's own scope is "<workflow>#<step>": show the step; a named one by its name.
      const size_t hash = k.scope.rfind('#');
      const size_t slash = k.scope.find('/');
      json::Object o;
      if (hash != std::string::npos) {
        o.emplace_back("step", k.scope.substr(hash + 1));
      } else {
        o.emplace_back("scope", slash == std::string::npos ? k.scope : k.scope.substr(slash + 1));
      }
      o.emplace_back("key", k.key);
      o.emplace_back("in_use", k.in_use);
      o.emplace_back("waiting", k.waiting);
      o.emplace_back("limit", k.limit);
      o.emplace_back("shard", static_cast<int64_t>(k.shard));
      step_keys.emplace_back(std::move(o));
    }
  }
  const auto& c = (*def)->concurrency;
  json::Object out{{"workflow", name},
                   {"limit", c ? json::Value(c->limit) : json::Value(nullptr)},
                   {"keys", std::move(list)},
                   {"more", keys.size() > limit},
                   {"live", live},
                   {"queued", queued},
                   {"steps", json::Object{{"limits", std::move(step_specs)},
                                          {"keys", std::move(step_keys)},
                                          {"more", step_more},
                                          {"in_use", in_use},
                                          {"waiting", waiting}}}};
  detail::ReplyJson(rc.resp, 200, json::ToString(json::Value(std::move(out))));
}

}  // namespace

void AddFlowRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.AddScoped(http::Method::kGet, "/v1/workflows/{name}/concurrency", auth::Access::kRead,
                   {nullptr, &Get, ctx});
}

}  // namespace rf::api

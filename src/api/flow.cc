// GET /v1/workflows/{name}/concurrency: the keys of a workflow's "concurrency" limit that have
// live or queued runs, read from every shard (a key lives on the one shard holding its
// partition), busiest first. In a cluster each daemon answers for the keys it holds.

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
  const auto& c = (*def)->concurrency;
  json::Object out{{"workflow", name},
                   {"limit", c ? json::Value(c->limit) : json::Value(nullptr)},
                   {"keys", std::move(list)},
                   {"more", keys.size() > limit},
                   {"live", live},
                   {"queued", queued}};
  detail::ReplyJson(rc.resp, 200, json::ToString(json::Value(std::move(out))));
}

}  // namespace

void AddFlowRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.AddScoped(http::Method::kGet, "/v1/workflows/{name}/concurrency", auth::Access::kRead,
                   {nullptr, &Get, ctx});
}

}  // namespace rf::api

// /v1/operations: bulk cancel or retry of the runs matching a filter (bulk.h does the work).
// POST starts one (202 + Location), GET reads one or lists the namespace's, POST .../cancel
// stops one. An operation is read on the shard that holds it (its id names the shard).

#include "api/bulk.h"
#include "api/v1.h"
#include "base/tenancy.h"
#include "engine/definition.h"
#include "json/writer.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

bool Bad(http::Response& resp, const std::string& message, std::string_view field = {}) {
  resp.Error(400, "invalid_argument", message, field);
  return false;
}

// A non-negative integer member; false (400 written) when present and not one.
bool TimeField(const json::Value& filter, std::string_view key, int64_t& out, http::Response& resp) {
  const json::Value* v = filter.Find(key);
  if (v == nullptr) return true;
  if (!v->is_int() || v->as_int() <= 0)
    return Bad(resp, "filter." + std::string(key) + " must be a positive integer (unix milliseconds)",
               "/filter/" + std::string(key));
  out = v->as_int();
  return true;
}

bool ParseOperation(const json::Value& body, const RequestContext& rc, BulkOperation& op) {
  http::Response& resp = rc.resp;
  if (!body.is_object()) return Bad(resp, "the body must be an object {\"action\", \"filter\", \"max_per_second\"?}");
  for (const auto& [key, value] : body.as_object())
    if (key != "action" && key != "filter" && key != "max_per_second")
      return Bad(resp, "unknown member '" + key + "' (expected action, filter, max_per_second)", "/" + key);
  const json::Value* action = body.Find("action");
  if (action == nullptr || !action->is_string() ||
      (action->as_string() != "cancel" && action->as_string() != "retry"))
    return Bad(resp, "action must be \"cancel\" or \"retry\"", "/action");
  op.action = action->as_string() == "cancel" ? BulkAction::kCancel : BulkAction::kRetry;
  const json::Value* filter = body.Find("filter");
  if (filter == nullptr || !filter->is_object() || filter->as_object().empty())
    return Bad(resp, "filter must be an object with at least one of workflow, status, created_after_ms, "
                     "created_before_ms (an operation on every run is not taken by accident)", "/filter");
  for (const auto& [key, value] : filter->as_object())
    if (key != "workflow" && key != "status" && key != "created_after_ms" && key != "created_before_ms")
      return Bad(resp, "unknown filter member '" + key + "'", "/filter/" + key);
  if (const json::Value* w = filter->Find("workflow")) {
    if (!w->is_string() || !engine::IsValidWorkflowName(w->as_string()))
      return Bad(resp, "filter.workflow must be a workflow name", "/filter/workflow");
    op.filter.workflow = detail::QualifiedName(rc, w->as_string());
  }
  if (const json::Value* s = filter->Find("status")) {
    engine::RunStatus status;
    if (!s->is_string() || !engine::ParseRunStatus(s->as_string(), status))
      return Bad(resp, "filter.status must be pending, running, waiting, succeeded, failed or cancelled",
                 "/filter/status");
    op.filter.status = status;
  }
  if (!TimeField(*filter, "created_after_ms", op.filter.created_after_ms, resp) ||
      !TimeField(*filter, "created_before_ms", op.filter.created_before_ms, resp))
    return false;
  if (op.filter.created_after_ms && op.filter.created_before_ms &&
      op.filter.created_after_ms >= op.filter.created_before_ms)
    return Bad(resp, "filter.created_after_ms must be before filter.created_before_ms", "/filter");
  if (op.action == BulkAction::kRetry) {
    if (op.filter.status && *op.filter.status != engine::RunStatus::kFailed)
      return Bad(resp, "retry applies to failed runs: filter.status must be failed or left out", "/filter/status");
    op.filter.status = engine::RunStatus::kFailed;
  }
  if (const json::Value* rate = body.Find("max_per_second")) {
    if (!rate->is_int() || rate->as_int() < 1 || rate->as_int() > kMaxBulkRate)
      return Bad(resp, "max_per_second must be an integer from 1 to " + std::to_string(kMaxBulkRate),
                 "/max_per_second");
    op.max_per_second = static_cast<uint32_t>(rate->as_int());
  }
  return true;
}

std::string Json(const BulkOperation& op) {
  return op.ToJson(SplitQualified(op.filter.workflow).name);
}

std::string Location(const BulkOperation& op) {
  return (op.ns == kDefaultNamespace ? std::string("/v1") : "/v1/namespaces/" + op.ns) + "/operations/" + op.id;
}

reactor::Task<void> Create(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::EngineReady(ctx, rc.resp) || !detail::HaveService(ctx.bulk, "bulk operations", rc.resp) ||
      !detail::OnlyParams(rc.req.query, {}, rc.resp) || !detail::CheckJsonContentType(rc.req, rc.resp))
    co_return;
  auto body = detail::ParseBody(rc.req, rc.resp);
  if (!body) co_return;
  BulkOperation op;
  op.ns = std::string(detail::Namespace(rc));
  if (!ParseOperation(*body, rc, op)) co_return;
  op.authorization = std::string(rc.req.Header("Authorization"));
  auto started = ctx.bulk->Start(std::move(op));
  if (!started) {
    detail::ReplyError(rc.resp, started.error());
    co_return;
  }
  rc.resp.AddHeader("Location", Location(**started));
  detail::ReplyJson(rc.resp, 202, Json(**started));
}

enum class Want { kRead, kStop };

// On the operation's shard: its JSON, after stopping it for kStop; empty when unknown.
std::string ReadOn(BulkOperations* bulk, std::string id, std::string ns, Want want) {
  auto op = bulk->Find(id, ns);
  if (!op) return {};
  if (want == Want::kStop && op->state == BulkOperation::State::kRunning) op->stop = true;
  return Json(*op);
}

reactor::Task<void> ReadOne(ApiContext& ctx, RequestContext& rc, Want want) {
  if (!detail::HaveService(ctx.bulk, "bulk operations", rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp))
    co_return;
  if (want == Want::kStop && !detail::CheckJsonContentType(rc.req, rc.resp)) co_return;
  const std::string id(rc.params.Get("id"));
  auto shard = ctx.bulk->ShardOf(id);
  std::string json;
  if (shard) json = co_await reactor::SubmitTo(*shard, &ReadOn, ctx.bulk, id, std::string(detail::Namespace(rc)), want);  // suspends
  if (json.empty()) {
    rc.resp.Error(404, "operation_not_found",
                  "no operation with id '" + id + "' (operations are kept in memory by the daemon that took them)");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200, json);
}

reactor::Task<void> Get(void* p, RequestContext& rc) {
  return ReadOne(*static_cast<ApiContext*>(p), rc, Want::kRead);
}

reactor::Task<void> Stop(void* p, RequestContext& rc) {
  return ReadOne(*static_cast<ApiContext*>(p), rc, Want::kStop);
}

std::string ListOn(BulkOperations* bulk, std::string ns) {
  std::string out;
  for (const auto& op : bulk->List(ns)) {
    if (!out.empty()) out += ',';
    out += Json(*op);
  }
  return out;
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::HaveService(ctx.bulk, "bulk operations", rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp))
    co_return;
  const std::string ns(detail::Namespace(rc));
  std::string out = "{\"operations\":[";
  bool first = true;
  for (unsigned i = 0; i < ctx.engine->shards(); ++i) {
    std::string part = co_await reactor::SubmitTo(i, &ListOn, ctx.bulk, ns);  // suspends
    if (part.empty()) continue;
    if (!first) out += ',';
    out += part;
    first = false;
  }
  out += "]}";
  detail::ReplyJson(rc.resp, 200, out);
}

}  // namespace

void AddOperationRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.AddScoped(http::Method::kPost, "/v1/operations", auth::Access::kRunsControl, {nullptr, &Create, ctx});
  routes.AddScoped(http::Method::kGet, "/v1/operations", auth::Access::kRead, {nullptr, &List, ctx});
  routes.AddScoped(http::Method::kGet, "/v1/operations/{id}", auth::Access::kRead, {nullptr, &Get, ctx});
  routes.AddScoped(http::Method::kPost, "/v1/operations/{id}/cancel", auth::Access::kRunsControl, {nullptr, &Stop, ctx});
}

}  // namespace rf::api

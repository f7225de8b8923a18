// GET /v1/audit: the audit log of a namespace (auth/audit_log.h), newest first. Admins only
// (Access::kAudit); namespaced, so an admin of namespace X reads X's entries through
// /v1/namespaces/X/audit, and /v1/audit is the default namespace's.

#include <charconv>

#include "api/detail/common.h"
#include "api/v1.h"
#include "auth/audit_log.h"
#include "json/parse.h"
#include "json/writer.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

// since/until/before: non-negative integers; limit 1..1000. False: a 400 was written.
bool ParseAuditQuery(const RequestContext& rc, store::AuditQuery& q) {
  if (!detail::OnlyParams(rc.req.query, {"since", "until", "limit", "before"}, rc.resp)) return false;
  bool bad = false;
  auto number = [&](const char* name, int64_t min, int64_t max, int64_t& out) {
    auto v = detail::QueryParam(rc.req.query, name, bad);
    if (!v) return true;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec == std::errc() && end == v->data() + v->size() && out >= min && out <= max) return true;
    const std::string what = std::string(name) == "limit" ? "an integer from 1 to 1000"
                             : std::string(name) == "before"
                                 ? "a cursor this API returned (next_cursor)"
                                 : "a time in milliseconds since the epoch";
    rc.resp.Error(400, "invalid_argument", std::string(name) + " must be " + what);
    return false;
  };
  int64_t limit = 100;
  if (!number("since", 0, INT64_MAX, q.since_ms) || !number("until", 0, INT64_MAX, q.until_ms) ||
      !number("before", 1, INT64_MAX, q.before_id) || !number("limit", 1, 1000, limit))
    return false;
  if (bad) {
    rc.resp.Error(400, "invalid_argument", "malformed percent-encoding in the query");
    return false;
  }
  q.limit = static_cast<size_t>(limit);
  return true;
}

json::Value EntryJson(const store::AuditEntry& e) {
  auto target = json::Parse(e.target.empty() ? std::string_view("{}") : std::string_view(e.target));
  return json::Value(json::Object{
      {"id", std::to_string(e.id)},
      {"at_ms", e.at_ms},
      {"subject", e.subject},
      {"namespace", e.ns},
      {"method", e.method},
      {"route", e.route},
      {"target", target ? std::move(*target) : json::Value(json::Object{})},
      {"status", static_cast<int64_t>(e.status)},
      {"request_id", e.request_id.empty() ? json::Value(nullptr) : json::Value(e.request_id)}});
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!detail::HaveService(ctx.audit, "the audit log", rc.resp)) co_return;
  auto ns = detail::PathNamespace(rc);
  if (!ns) co_return;
  store::AuditQuery q;
  q.ns = std::string(*ns);
  if (!ParseAuditQuery(rc, q)) co_return;
  auto page = co_await ctx.audit->Query(std::move(q));  // suspends
  if (!page) {
    detail::ReplyError(rc.resp, page.error());
    co_return;
  }
  json::Array entries;
  for (const store::AuditEntry& e : page->entries) entries.push_back(EntryJson(e));
  json::Value out(json::Object{
      {"namespace", std::string(*ns)},
      {"entries", std::move(entries)},
      {"next_cursor", page->next_before ? json::Value(std::to_string(page->next_before)) : json::Value(nullptr)}});
  detail::ReplyJson(rc.resp, 200, json::ToString(out));
}

}  // namespace

void AddAuditRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.AddScoped(http::Method::kGet, "/v1/audit", auth::Access::kAudit, {nullptr, &List, ctx});
}

}  // namespace rf::api

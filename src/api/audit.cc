// GET /v1/audit: the audit log of a namespace (auth/audit_log.h), newest first. Admins only
// (Access::kAudit); namespaced, so an admin of namespace X reads X's entries through
// /v1/namespaces/X/audit, and /v1/audit is the default namespace's.

#include <charconv>

#include "api/detail/common.h"
#include "api/v1.h"
#include "auth/audit_log.h"
#include "base/buffer.h"
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

void WriteEntry(const store::AuditEntry& e, Buffer& out) {
  out.Append("{\"id\":\"" + std::to_string(e.id) + "\",\"at_ms\":" + std::to_string(e.at_ms) + ",\"subject\":");
  json::WriteString(e.subject, out);
  out.Append(",\"namespace\":");
  json::WriteString(e.ns, out);
  out.Append(",\"method\":");
  json::WriteString(e.method, out);
  out.Append(",\"route\":");
  json::WriteString(e.route, out);
  out.Append(",\"target\":");
  out.Append(e.target.empty() ? std::string_view("{}") : std::string_view(e.target));
  out.Append(",\"status\":" + std::to_string(e.status) + ",\"request_id\":");
  if (e.request_id.empty())
    out.Append("null");
  else
    json::WriteString(e.request_id, out);
  out.Append("}");
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
  Buffer out;
  out.Append("{\"namespace\":");
  json::WriteString(*ns, out);
  out.Append(",\"entries\":[");
  for (size_t i = 0; i < page->entries.size(); ++i) {
    if (i) out.Append(",");
    WriteEntry(page->entries[i], out);
  }
  out.Append("],\"next_cursor\":");
  out.Append(page->next_before ? "\"" + std::to_string(page->next_before) + "\"" : std::string("null"));
  out.Append("}");
  detail::ReplyJson(rc.resp, 200, out.view());
}

}  // namespace

void AddAuditRoutes(Routes& routes, detail::ApiContext* ctx) {
  routes.AddScoped(http::Method::kGet, "/v1/audit", auth::Access::kAudit, {nullptr, &List, ctx});
}

}  // namespace rf::api

// /v1/keys: API keys (create, list, revoke) through the key service on shard 0 (auth/key_service.h).
// The route needs Access::kKeys (admin); the namespace a key is made for, listed in or revoked
// from must be covered by the caller's own (an admin of "*" covers all).

#include "api/auth_gate.h"
#include "api/detail/common.h"
#include "api/v1.h"
#include "auth/key_service.h"
#include "base/duration.h"
#include "json/writer.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

bool HaveService(const ApiContext& ctx, http::Response& resp) {
  return detail::HaveService(ctx.keys, "API keys", resp);
}

json::Value KeyJson(const auth::KeyEntry& k, int64_t now_ms) {
  json::Object o{{"id", k.id},
                 {"name", k.name},
                 {"namespace", k.ns},
                 {"role", std::string(auth::RoleName(k.role))},
                 {"created_ms", k.created_ms}};
  o.emplace_back("expires_ms", k.expires_ms ? json::Value(k.expires_ms) : json::Value(nullptr));
  o.emplace_back("expired", k.expires_ms != 0 && now_ms >= k.expires_ms);
  return json::Value(std::move(o));
}

int64_t NowMs() { return WallNow() / 1'000'000; }

reactor::Task<void> Create(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!HaveService(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp) ||
      !detail::CheckJsonContentType(rc.req, rc.resp))
    co_return;
  auto body = detail::ParseBody(rc.req, rc.resp);
  if (!body) co_return;
  if (!body->is_object()) {
    rc.resp.Error(400, "invalid_argument", "body must be an object {\"name\",\"role\",\"namespace\"?,\"expires_in\"?}");
    co_return;
  }
  auth::NewKey key;
  // Under /v1/namespaces/{ns}/keys the key is for that namespace; under /v1/keys the body says.
  const bool scoped = !rc.params.Get("ns").empty();
  if (scoped) key.ns = std::string(detail::Namespace(rc));
  for (const auto& [name, v] : body->as_object()) {
    const std::string field = "/" + name;
    if (name == "name" || name == "role" || name == "namespace" || name == "expires_in") {
      if (!v.is_string()) {
        rc.resp.Error(400, "invalid_argument", name + " must be a string", field);
        co_return;
      }
    } else {
      rc.resp.Error(400, "invalid_argument", "unknown field '" + name + "'", field);
      co_return;
    }
    const std::string& s = v.as_string();
    if (name == "name") {
      key.name = s;
    } else if (name == "namespace") {
      if (scoped && s != key.ns) {
        rc.resp.Error(400, "invalid_argument", "namespace '" + s + "' differs from '" + key.ns +
                                                   "' in the path", field);
        co_return;
      }
      key.ns = s;
    } else if (name == "role") {
      auto role = auth::ParseRole(s);
      if (!role) {
        rc.resp.Error(400, "invalid_argument", "role must be admin, operator, developer or viewer", field);
        co_return;
      }
      key.role = *role;
    } else {
      auto d = ParseDuration(s);
      if (!d || *d < kSeconds) {
        rc.resp.Error(400, "invalid_argument", "expires_in must be a duration of at least 1s (e.g. 90s, 24h)", field);
        co_return;
      }
      key.expires_ms = NowMs() + *d / kMillis;
    }
  }
  if (body->Find("name") == nullptr || body->Find("role") == nullptr) {
    rc.resp.Error(400, "invalid_argument", "name and role are required", body->Find("name") ? "/role" : "/name");
    co_return;
  }
  if (rc.who && !IdentityAllows(*rc.who, key.ns, auth::Access::kKeys)) {
    rc.resp.Error(403, "forbidden", "this credential may not make keys for namespace '" + key.ns + "'");
    co_return;
  }
  auto made = co_await ctx.keys->Create(std::move(key));  // suspends
  if (!made) {
    detail::ReplyError(rc.resp, made.error(), "key_not_found");
    co_return;
  }
  json::Value out = KeyJson(made->key, NowMs());
  out.Set("key", made->token);
  detail::ReplyJson(rc.resp, 201, json::ToString(out));
  rc.resp.AddHeader("Cache-Control", "no-store");
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!HaveService(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  auto keys = co_await ctx.keys->List();  // suspends
  json::Array arr;
  const int64_t now = NowMs();
  const std::string_view only = rc.params.Get("ns");  // under /v1/namespaces/{ns}/keys
  for (const auth::KeyEntry& k : keys) {
    // A namespace's admin sees its own namespace's keys; "*" keys only an admin of "*" sees.
    if (rc.who && rc.who->authenticated && !auth::NamespaceAllows(rc.who->ns, k.ns)) continue;
    if (!only.empty() && k.ns != only) continue;
    arr.push_back(KeyJson(k, now));
  }
  detail::ReplyJson(rc.resp, 200, json::ToString(json::Value(json::Object{{"keys", std::move(arr)}})));
}

reactor::Task<void> Revoke(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!HaveService(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  std::string id(rc.params.Get("id"));
  const std::string_view only = rc.params.Get("ns");  // under /v1/namespaces/{ns}/keys
  if ((rc.who && rc.who->authenticated) || !only.empty()) {
    // Find the key's namespace first: revoking another namespace's key is forbidden, and
    // whether it exists there is not this caller's business (404 alike).
    auto keys = co_await ctx.keys->List();  // suspends
    const auth::KeyEntry* found = nullptr;
    for (const auth::KeyEntry& k : keys)
      if (k.id == id) found = &k;
    if (found == nullptr || (rc.who && rc.who->authenticated && !auth::NamespaceAllows(rc.who->ns, found->ns)) ||
        (!only.empty() && found->ns != only)) {
      rc.resp.Error(404, "key_not_found", "no API key " + id);
      co_return;
    }
  }
  Status st = co_await ctx.keys->Revoke(id);  // suspends
  if (!st) {
    detail::ReplyError(rc.resp, st.error(), "key_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200,
                    json::ToString(json::Value(json::Object{{"id", id}, {"revoked", true}})));
}

}  // namespace

void AddKeyRoutes(Routes& routes, detail::ApiContext* ctx) {
  using http::Method;
  routes.AddScoped(Method::kPost, "/v1/keys", auth::Access::kKeys, {nullptr, &Create, ctx});
  routes.AddScoped(Method::kGet, "/v1/keys", auth::Access::kKeys, {nullptr, &List, ctx});
  routes.AddScoped(Method::kDelete, "/v1/keys/{id}", auth::Access::kKeys, {nullptr, &Revoke, ctx});
}

}  // namespace rf::api

// /v1/secrets: secrets of a namespace (auth/secret_service.h). Values go in (PUT) and never
// come out: listings show names and times only, and no answer ever holds a value. Routes are
// namespaced (/v1/namespaces/{ns}/secrets...); writing needs Access::kSecretsWrite and listing
// kSecretsRead (developer or admin).

#include "api/auth_gate.h"
#include "api/detail/common.h"
#include "api/v1.h"
#include "auth/secret_service.h"
#include "json/writer.h"

namespace rf::api {
namespace {

using detail::ApiContext;
using http::RequestContext;

bool HaveService(const ApiContext& ctx, http::Response& resp) {
  return detail::HaveService(ctx.secrets, "secrets", resp);
}

std::optional<std::string> SecretName(const RequestContext& rc) {
  std::string name(rc.params.Get("name"));
  if (auth::ValidSecretName(name)) return name;
  rc.resp.Error(400, "invalid_argument", "a secret name is 1..128 of A-Z, a-z, 0-9, '_' and '-'");
  return std::nullopt;
}

json::Value InfoJson(const auth::SecretInfo& s) {
  return json::Value(json::Object{{"name", s.name}, {"created_ms", s.created_ms}, {"updated_ms", s.updated_ms}});
}

reactor::Task<void> Put(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!HaveService(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  // Whatever --json-mutations says: a value must not arrive from a cross-site form post.
  if (!http::IsJsonContentType(rc.req.Header("Content-Type"))) {
    rc.resp.Error(415, "unsupported_media_type", "PUT /v1/secrets/{name} needs Content-Type: application/json");
    co_return;
  }
  auto ns = detail::PathNamespace(rc);
  auto name = SecretName(rc);
  if (!ns || !name) co_return;
  if (!ctx.secrets->configured()) {
    rc.resp.Error(409, "secrets_not_configured",
                  "secrets are not configured on this daemon: start it with --secrets-key-file "
                  "(32 random bytes, hex or raw)");
    co_return;
  }
  auto body = detail::ParseBody(rc.req, rc.resp);
  if (!body) co_return;
  if (!body->is_object()) {
    rc.resp.Error(400, "invalid_argument", "body must be an object {\"value\": \"...\"}");
    co_return;
  }
  for (const auto& [field, v] : body->as_object()) {
    if (field != "value") {
      rc.resp.Error(400, "invalid_argument", "unknown field '" + field + "'", "/" + field);
      co_return;
    }
    if (!v.is_string()) {
      rc.resp.Error(400, "invalid_argument", "value must be a string", "/value");
      co_return;
    }
  }
  json::Value* value = body->Find("value");
  if (value == nullptr) {
    rc.resp.Error(400, "invalid_argument", "value is required", "/value");
    co_return;
  }
  auto put = co_await ctx.secrets->Put(std::string(*ns), std::move(*name),
                                       std::move(value->as_string()));  // suspends
  if (!put) {
    detail::ReplyError(rc.resp, put.error(), "secret_not_found");
    co_return;
  }
  json::Value out = InfoJson(put->info);
  out.Set("namespace", std::string(*ns));
  out.Set("created", put->created);
  detail::ReplyJson(rc.resp, put->created ? 201 : 200, json::ToString(out));
  rc.resp.AddHeader("Cache-Control", "no-store");
}

reactor::Task<void> List(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!HaveService(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  auto ns = detail::PathNamespace(rc);
  if (!ns) co_return;
  json::Array arr;
  for (const auth::SecretInfo& s : ctx.secrets->List(*ns)) arr.push_back(InfoJson(s));
  detail::ReplyJson(rc.resp, 200, json::ToString(json::Value(
                                      json::Object{{"namespace", std::string(*ns)}, {"secrets", std::move(arr)}})));
  rc.resp.AddHeader("Cache-Control", "no-store");
}

reactor::Task<void> Delete(void* p, RequestContext& rc) {
  auto& ctx = *static_cast<ApiContext*>(p);
  if (!HaveService(ctx, rc.resp) || !detail::OnlyParams(rc.req.query, {}, rc.resp)) co_return;
  auto ns = detail::PathNamespace(rc);
  auto name = SecretName(rc);
  if (!ns || !name) co_return;
  Status st = co_await ctx.secrets->Delete(std::string(*ns), *name);  // suspends
  if (!st) {
    detail::ReplyError(rc.resp, st.error(), "secret_not_found");
    co_return;
  }
  detail::ReplyJson(rc.resp, 200,
                    json::ToString(json::Value(json::Object{{"name", *name}, {"deleted", true}})));
}

}  // namespace

void AddSecretRoutes(Routes& routes, detail::ApiContext* ctx) {
  using http::Method;
  routes.AddScoped(Method::kPut, "/v1/secrets/{name}", auth::Access::kSecretsWrite, {nullptr, &Put, ctx});
  routes.AddScoped(Method::kGet, "/v1/secrets", auth::Access::kSecretsRead, {nullptr, &List, ctx});
  routes.AddScoped(Method::kDelete, "/v1/secrets/{name}", auth::Access::kSecretsWrite, {nullptr, &Delete, ctx});
}

}  // namespace rf::api

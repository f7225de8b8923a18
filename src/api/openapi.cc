#include "api/openapi.h"

#include "api/detail/common.h"
#include "api/slo.h"
#include "api/ui.h"
#include "api/v1.h"

namespace rf::api {
namespace {

// The body is a static string: a request costs one copy into the response buffer.
void ServeDocument(void*, http::RequestContext& rc) {
  if (!detail::OnlyParams(rc.req.query, {}, rc.resp)) return;
  rc.resp.content_type = "application/json";
  rc.resp.body.Append(OpenApiDocument());
}

}  // namespace

void AddOpenApiRoute(Routes& routes) {
  routes.Add(http::Method::kGet, "/v1/openapi.json", auth::Access::kRead, {&ServeDocument, nullptr, nullptr});
}

void AddAllRoutes(Routes& routes, ServiceState* state, V1Api& v1) {
  AddOperationalRoutes(routes, state);
  AddSloRoute(routes, state);
  v1.AddRoutes(routes);
  AddOpenApiRoute(routes);
  AddUiRoutes(routes);
}

}  // namespace rf::api

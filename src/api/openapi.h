#pragma once
// GET /v1/openapi.json: the OpenAPI 3.1 description of every route of the API. The document is
// src/api/openapi.json, checked and embedded at build time (embed_openapi.py); a unit test
// (tests/unit/api/openapi_test.cc) compares it with the routes the daemon registers.

#include <string_view>

#include "api/service.h"

namespace rf::api {

// The document, compact JSON; static storage.
std::string_view OpenApiDocument();

// GET /v1/openapi.json.
void AddOpenApiRoute(Routes& routes);

// Every route the daemon serves: the operational ones, /v1, the document itself and the web UI.
// `state` and `v1` must outlive the router.
class V1Api;
void AddAllRoutes(Routes& routes, ServiceState* state, V1Api& v1);

}  // namespace rf::api

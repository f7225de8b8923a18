// The embedded OpenAPI document against the routes the daemon registers (api::AddAllRoutes, as
// app/serve.cc calls it): every route is documented, every documented operation is routed, and
// every path parameter is declared.

#include "api/openapi.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "api/v1.h"
#include "json/parse.h"

namespace rf::api {
namespace {

using RouteSet = std::set<std::pair<std::string, std::string>>;  // (path, lowercase method)

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

bool IsOperation(std::string_view key) {
  for (std::string_view m : {"get", "put", "post", "delete", "patch", "head", "options", "trace"})
    if (key == m) return true;
  return false;
}

json::Value Document() {
  auto doc = json::Parse(OpenApiDocument(), {.max_bytes = 1 << 20, .max_depth = 64});
  REQUIRE(doc);
  REQUIRE(doc->is_object());
  return std::move(*doc);
}

// Follows "#/components/parameters/X" once; other objects are returned as they are.
const json::Value& Deref(const json::Value& doc, const json::Value& v) {
  const json::Value* ref = v.Find("$ref");
  if (!ref) return v;
  const std::string prefix = "#/components/parameters/";
  REQUIRE(ref->as_string().starts_with(prefix));
  const json::Value* p =
      doc.Find("components")->Find("parameters")->Find(ref->as_string().substr(prefix.size()));
  REQUIRE_MESSAGE(p != nullptr, "unresolved " << ref->as_string());
  return *p;
}

// The names of the path parameters declared in `params` (an array, possibly absent).
void PathParams(const json::Value& doc, const json::Value* params, std::set<std::string>& out) {
  if (!params) return;
  for (const json::Value& p : params->as_array()) {
    const json::Value& d = Deref(doc, p);
    if (d.Find("in")->as_string() == "path") out.insert(d.Find("name")->as_string());
  }
}

std::set<std::string> PatternParams(std::string_view pattern) {
  std::set<std::string> names;
  size_t at = 0;
  while ((at = pattern.find('{', at)) != std::string_view::npos) {
    const size_t end = pattern.find('}', at);
    names.emplace(pattern.substr(at + 1, end - at - 1));
    at = end;
  }
  return names;
}

struct Registered {
  ServiceState state;
  V1Api v1{nullptr};
  Routes routes;
  Registered() { AddAllRoutes(routes, &state, v1); }
};

TEST_CASE("api.openapi: the document is OpenAPI 3.1") {
  json::Value doc = Document();
  REQUIRE(doc.Find("openapi"));
  CHECK(doc.Find("openapi")->as_string().starts_with("3.1."));
  CHECK(doc.Find("info"));
  CHECK(doc.Find("paths"));
}

TEST_CASE("api.openapi: documented operations are exactly the registered routes") {
  Registered r;
  RouteSet routed;
  for (const auto& e : r.routes.table) routed.emplace(e.pattern, Lower(http::MethodName(e.method)));
  REQUIRE(routed.size() == r.routes.table.size());
  CHECK(routed.count({"/v1/openapi.json", "get"}) == 1);

  json::Value doc = Document();
  RouteSet documented;
  for (const auto& [path, item] : doc.Find("paths")->as_object())
    for (const auto& [key, op] : item.as_object())
      if (IsOperation(key)) documented.emplace(path, key);

  for (const auto& [path, method] : routed)
    CHECK_MESSAGE(documented.count({path, method}) == 1,
                  "route " << method << " " << path << " is missing from src/api/openapi/");
  for (const auto& [path, method] : documented)
    CHECK_MESSAGE(routed.count({path, method}) == 1, "src/api/openapi/ documents "
                                                         << method << " " << path
                                                         << ", which no route serves");
}

TEST_CASE("api.openapi: open routes say security [] and every other one documents 401 and 403") {
  Registered r;
  json::Value doc = Document();
  for (const auto& e : r.routes.table) {
    const json::Value* op = doc.Find("paths")->Find(e.pattern)->Find(Lower(http::MethodName(e.method)));
    REQUIRE(op != nullptr);
    const json::Value* security = op->Find("security");
    const json::Value* responses = op->Find("responses");
    const std::string what = std::string(http::MethodName(e.method)) + " " + e.pattern;
    if (e.access == auth::Access::kOpen) {
      CHECK_MESSAGE((security && security->is_array() && security->as_array().empty()), what << ": open route without security []");
      continue;
    }
    CHECK_MESSAGE(responses->Find("401") != nullptr, what << " does not document 401");
    if (e.access != auth::Access::kMetrics)
      CHECK_MESSAGE(responses->Find("403") != nullptr, what << " does not document 403");
  }
}

TEST_CASE("api.openapi: every documented path resolves in the router and declares its parameters") {
  Registered r;
  json::Value doc = Document();
  for (const auto& [path, item] : doc.Find("paths")->as_object()) {
    std::string concrete;  // the path with "x" for every parameter
    for (size_t i = 0; i < path.size(); ++i) {
      if (path[i] == '{') {
        concrete += 'x';
        i = path.find('}', i);
      } else {
        concrete += path[i];
      }
    }
    for (const auto& [key, op] : item.as_object()) {
      if (!IsOperation(key)) continue;
      std::string upper = key;
      for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
      http::Method m = http::Method::kOther;
      for (size_t i = 0; i < http::kMethodCount; ++i)
        if (http::MethodName(static_cast<http::Method>(i)) == upper)
          m = static_cast<http::Method>(i);
      auto match = r.routes.router.Find(m, concrete);
      CHECK_MESSAGE(match.kind == decltype(match)::Kind::kFound, key << " " << concrete);
      CHECK(match.pattern == path);

      std::set<std::string> declared;
      PathParams(doc, item.Find("parameters"), declared);
      PathParams(doc, op.Find("parameters"), declared);
      CHECK_MESSAGE(declared == PatternParams(path), key << " " << path << ": path parameters");
      CHECK_MESSAGE(op.Find("responses") != nullptr, key << " " << path);
    }
  }
}

TEST_CASE("api.openapi: GET /v1/openapi.json serves the document as application/json") {
  Registered r;
  auto match = r.routes.router.Find(http::Method::kGet, "/v1/openapi.json");
  REQUIRE(match.kind == decltype(match)::Kind::kFound);
  REQUIRE((match.handler->sync != nullptr));
  http::Request req;
  Buffer body;
  std::string headers;
  http::Response resp(body, headers);
  http::RequestContext rc{req, match.params, resp};
  match.handler->sync(match.handler->ctx, rc);
  CHECK(resp.status == 200);
  CHECK(resp.content_type == "application/json");
  CHECK(body.view() == OpenApiDocument());

  Buffer body2;
  http::Response resp2(body2, headers);
  req.query = "x=1";
  http::RequestContext rc2{req, match.params, resp2};
  match.handler->sync(match.handler->ctx, rc2);
  CHECK(resp2.status == 400);
}

}  // namespace
}  // namespace rf::api

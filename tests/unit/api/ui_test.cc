// The web UI's routes (api/ui.cc) as AddAllRoutes registers them, called directly: the embedded
// files, their types and entity tags, conditional requests, the redirect and unknown files.

#include "api/ui.h"

#include <doctest/doctest.h>

#include <string>

#include "api/openapi.h"
#include "api/v1.h"
#include "ui/assets.h"

namespace rf::api {
namespace {

struct Answer {
  int status = 0;
  std::string content_type, headers, body;
};

Answer Get(std::string_view path, std::string_view if_none_match = {}) {
  ServiceState state;
  V1Api v1{nullptr};
  Routes routes;
  AddAllRoutes(routes, &state, v1);
  auto match = routes.router.Find(http::Method::kGet, path);
  REQUIRE(match.kind == decltype(match)::Kind::kFound);
  REQUIRE((match.handler->sync != nullptr));
  http::Request req;
  if (!if_none_match.empty()) {
    req.headers[0] = {"If-None-Match", if_none_match};
    req.header_count = 1;
  }
  Buffer body;
  std::string headers;
  http::Response resp(body, headers);
  http::RequestContext rc{req, match.params, resp};
  match.handler->sync(match.handler->ctx, rc);
  return {resp.status, std::string(resp.content_type), headers, std::string(body.view())};
}

TEST_SUITE("api.ui") {
  TEST_CASE("the index and every module are embedded with their types") {
    const ui::Asset* index = ui::FindAsset("index.html");
    REQUIRE(index != nullptr);
    CHECK(index->content_type == "text/html; charset=utf-8");
    CHECK(index->body.find("<script type=\"module\" src=\"app.js\">") != std::string_view::npos);
    for (const char* name : {"app.js", "api.js", "dom.js", "dag.js", "run.js", "runs.js"}) {
      const ui::Asset* a = ui::FindAsset(name);
      REQUIRE_MESSAGE(a != nullptr, name);
      CHECK(a->content_type == "text/javascript; charset=utf-8");
      CHECK(a->etag.size() == 22);
      CHECK(a->etag.front() == '"');
    }
    CHECK(ui::FindAsset("style.css")->content_type == "text/css; charset=utf-8");
    CHECK(ui::FindAsset("nope.js") == nullptr);
    CHECK(ui::FindAsset("") == nullptr);
    CHECK(ui::FindAsset("app.js")->etag != ui::FindAsset("api.js")->etag);
  }

  TEST_CASE("/ui/ serves index.html with its ETag, /ui redirects to it") {
    const Answer a = Get("/ui/");
    CHECK(a.status == 200);
    CHECK(a.content_type == "text/html; charset=utf-8");
    CHECK(a.body == ui::FindAsset("index.html")->body);
    CHECK(a.headers.find("ETag: " + std::string(ui::FindAsset("index.html")->etag) + "\r\n") !=
          std::string::npos);
    CHECK(a.headers.find("Cache-Control: no-cache\r\n") != std::string::npos);
    CHECK(a.headers.find("Content-Security-Policy: ") != std::string::npos);
    const Answer r = Get("/ui");
    CHECK(r.status == 301);
    CHECK(r.headers.find("Location: /ui/\r\n") != std::string::npos);
  }

  TEST_CASE("a matching If-None-Match answers 304 without a body") {
    const std::string etag(ui::FindAsset("app.js")->etag);
    const Answer a = Get("/ui/app.js", etag);
    CHECK(a.status == 304);
    CHECK(a.body.empty());
    CHECK(a.content_type.empty());
    CHECK(Get("/ui/app.js", "\"other\"").status == 200);
  }

  TEST_CASE("an unknown file is 404 file_not_found") {
    const Answer a = Get("/ui/nope.js");
    CHECK(a.status == 404);
    CHECK(a.body.find("\"code\":\"file_not_found\"") != std::string::npos);
  }

  TEST_CASE("If-None-Match lists, weak tags and * match; others do not") {
    CHECK(EtagMatches("\"a\"", "\"a\""));
    CHECK(EtagMatches("W/\"a\"", "\"a\""));
    CHECK(EtagMatches("\"x\", \"a\"", "\"a\""));
    CHECK(EtagMatches(" \"x\" ,\t\"a\" ", "\"a\""));
    CHECK(EtagMatches("*", "\"a\""));
    CHECK_FALSE(EtagMatches("", "\"a\""));
    CHECK_FALSE(EtagMatches("\"ab\"", "\"a\""));
    CHECK_FALSE(EtagMatches("a", "\"a\""));
    CHECK_FALSE(EtagMatches(",,", "\"a\""));
  }
}

}  // namespace
}  // namespace rf::api

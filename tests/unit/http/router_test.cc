#include "http/router.h"

#include <doctest/doctest.h>

#include <string>

namespace rf::http {
namespace {

using R = Router<int>;
using Kind = R::Match::Kind;

R MakeRouter() {
  R r;
  r.Add(Method::kGet, "/", 1);
  r.Add(Method::kGet, "/v1/workflows", 2);
  r.Add(Method::kPost, "/v1/workflows", 3);
  r.Add(Method::kGet, "/v1/workflows/{name}", 4);
  r.Add(Method::kPut, "/v1/workflows/{name}", 5);
  r.Add(Method::kDelete, "/v1/workflows/{name}", 6);
  r.Add(Method::kPost, "/v1/workflows/{name}/runs", 7);
  r.Add(Method::kGet, "/v1/workflows/{name}/runs/{run}", 8);
  r.Add(Method::kGet, "/v1/workflows/stats", 9);
  r.Add(Method::kPost, "/v1/runs/{id}/signals/{signal}", 10);
  r.Add(Method::kPost, "/v1/runs/{id}/cancel", 11);
  r.Add(Method::kPost, "/v1/runs/special/cancel", 12);
  r.Add(Method::kHead, "/health", 13);
  r.Add(Method::kGet, "/health", 14);
  return r;
}

}  // namespace

TEST_SUITE("http.router") {
  TEST_CASE("parameters capture one path segment each") {
    const R r = MakeRouter();
    auto m = r.Find(Method::kGet, "/v1/workflows/orders/runs/r-42");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 8);
    CHECK(m.pattern == "/v1/workflows/{name}/runs/{run}");
    REQUIRE(m.params.count == 2);
    CHECK(m.params.Get("name") == "orders");
    CHECK(m.params.Get("run") == "r-42");
    CHECK(m.params.Get("missing").empty());

    m = r.Find(Method::kPost, "/v1/runs/abc/signals/approve");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 10);
    CHECK(m.params.Get("id") == "abc");
    CHECK(m.params.Get("signal") == "approve");
  }

  TEST_CASE("the root pattern and literal patterns match exactly") {
    const R r = MakeRouter();
    auto m = r.Find(Method::kGet, "/");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 1);
    CHECK(m.pattern == "/");
    CHECK(m.params.count == 0);
    m = r.Find(Method::kPost, "/v1/workflows");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 3);
  }

  TEST_CASE("literal segments win over parameters") {
    const R r = MakeRouter();
    auto m = r.Find(Method::kGet, "/v1/workflows/stats");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 9);
    CHECK(m.params.count == 0);
    m = r.Find(Method::kPost, "/v1/runs/special/cancel");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 12);
    m = r.Find(Method::kPost, "/v1/runs/other/cancel");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 11);
    CHECK(m.params.Get("id") == "other");
  }

  TEST_CASE("a literal branch without the method falls back to the parameter branch") {
    const R r = MakeRouter();
    // "/v1/workflows/stats" only has GET; PUT goes to "/v1/workflows/{name}".
    auto m = r.Find(Method::kPut, "/v1/workflows/stats");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 5);
    CHECK(m.params.Get("name") == "stats");
    // "/v1/runs/special/..." has no signals route; the parameter branch matches.
    m = r.Find(Method::kPost, "/v1/runs/special/signals/go");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 10);
    CHECK(m.params.count == 2);
    CHECK(m.params.Get("id") == "special");
  }

  TEST_CASE("an unknown path is 404") {
    const R r = MakeRouter();
    CHECK(r.Find(Method::kGet, "/v2").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "/v1").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "/v1/workflows/a/b").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "*").kind == Kind::kNotFound);
    const auto m = r.Find(Method::kOther, "/nope");
    CHECK(m.kind == Kind::kNotFound);
    CHECK(m.handler == nullptr);
    CHECK(m.allow.empty());
  }

  TEST_CASE("a trailing slash or an empty segment is a different path") {
    const R r = MakeRouter();
    CHECK(r.Find(Method::kGet, "/v1/workflows/").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "/v1//workflows").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "//").kind == Kind::kNotFound);
    // A parameter never captures an empty segment.
    CHECK(r.Find(Method::kPost, "/v1/workflows//runs").kind == Kind::kNotFound);
  }

  TEST_CASE("a pattern ending with a slash matches only that path") {
    R r = MakeRouter();
    r.Add(Method::kGet, "/ui", 20);
    r.Add(Method::kGet, "/ui/", 21);
    r.Add(Method::kGet, "/ui/{file}", 22);
    auto m = r.Find(Method::kGet, "/ui/");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 21);
    CHECK(m.pattern == "/ui/");
    CHECK(m.params.count == 0);
    CHECK(*r.Find(Method::kGet, "/ui").handler == 20);
    CHECK(*r.Find(Method::kGet, "/ui/app.js").handler == 22);
    CHECK(r.Find(Method::kGet, "/ui//").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "/ui/app.js/").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kPost, "/ui/").kind == Kind::kMethodNotAllowed);
    // Elsewhere a trailing slash is still a different path.
    CHECK(r.Find(Method::kGet, "/v1/workflows/").kind == Kind::kNotFound);
    CHECK(r.Find(Method::kGet, "//").kind == Kind::kNotFound);
  }

  TEST_CASE("a known path with another method is 405 with the Allow list") {
    const R r = MakeRouter();
    auto m = r.Find(Method::kPatch, "/v1/workflows");
    CHECK(m.kind == Kind::kMethodNotAllowed);
    CHECK(m.handler == nullptr);
    CHECK(m.allow == "GET, HEAD, POST");

    m = r.Find(Method::kPost, "/v1/workflows/x");
    CHECK(m.kind == Kind::kMethodNotAllowed);
    CHECK(m.allow == "GET, HEAD, PUT, DELETE");
    CHECK(m.params.count == 0);

    m = r.Find(Method::kGet, "/v1/workflows/x/runs");
    CHECK(m.kind == Kind::kMethodNotAllowed);
    CHECK(m.allow == "POST");

    // The union over every route matching the path: the literal and the parameter branch.
    m = r.Find(Method::kPost, "/v1/workflows/stats");
    CHECK(m.kind == Kind::kMethodNotAllowed);
    CHECK(m.allow == "GET, HEAD, PUT, DELETE");

    m = r.Find(Method::kOther, "/v1/workflows");
    CHECK(m.kind == Kind::kMethodNotAllowed);
    CHECK(m.allow == "GET, HEAD, POST");
  }

  TEST_CASE("HEAD uses the GET route unless a HEAD route exists") {
    const R r = MakeRouter();
    auto m = r.Find(Method::kHead, "/v1/workflows/orders");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 4);
    CHECK(m.pattern == "/v1/workflows/{name}");
    CHECK(m.params.Get("name") == "orders");
    m = r.Find(Method::kHead, "/health");
    REQUIRE(m.kind == Kind::kFound);
    CHECK(*m.handler == 13);
    CHECK(r.Find(Method::kHead, "/v1/workflows/x/runs").kind == Kind::kMethodNotAllowed);
  }

  TEST_CASE("a HEAD-only route does not list GET") {
    R r;
    r.Add(Method::kHead, "/h", 1);
    const auto m = r.Find(Method::kGet, "/h");
    CHECK(m.kind == Kind::kMethodNotAllowed);
    CHECK(m.allow == "HEAD");
  }

  TEST_CASE("Allow strings cover every method combination") {
    CHECK(AllowHeaderValue(0).empty());
    CHECK(AllowHeaderValue(0x7f) == "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    CHECK(AllowHeaderValue(1u << static_cast<unsigned>(Method::kOptions)) == "OPTIONS");
  }

  TEST_CASE("the maximum number of parameters is captured") {
    R r;
    r.Add(Method::kGet, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", 1);
    const auto m = r.Find(Method::kGet, "/1/2/3/4/5/6/7/8");
    REQUIRE(m.kind == Kind::kFound);
    REQUIRE(m.params.count == kMaxParams);
    CHECK(m.params.Get("a") == "1");
    CHECK(m.params.Get("h") == "8");
    CHECK(r.Find(Method::kGet, "/1/2/3/4/5/6/7/8/9").kind == Kind::kNotFound);
  }

  TEST_CASE("handlers may be move-only callables") {
    Router<std::unique_ptr<std::string>> r;
    r.Add(Method::kGet, "/x/{id}", std::make_unique<std::string>("x"));
    const auto m = r.Find(Method::kGet, "/x/1");
    REQUIRE(m.kind == decltype(m)::Kind::kFound);
    CHECK(**m.handler == "x");
  }
}

}  // namespace rf::http

TEST_SUITE("http.router") {
TEST_CASE("a 405 reports the pattern of the route the path matched") {
  rf::http::Router<int> r;
  r.Add(rf::http::Method::kGet, "/v1/runs/{id}", 1);
  auto m = r.Find(rf::http::Method::kDelete, "/v1/runs/abc");
  CHECK(m.kind == rf::http::Router<int>::Match::Kind::kMethodNotAllowed);
  CHECK(m.pattern == "/v1/runs/{id}");
}
}

#include "http/response.h"

#include <doctest/doctest.h>

using rf::Buffer;
using rf::http::Response;

TEST_SUITE("http.response") {
  TEST_CASE("errors have the one JSON shape with escaped strings") {
    Buffer body, out;
    std::string hdrs;
    Response r(body, hdrs);
    r.Error(422, "invalid_definition", "bad \"id\"\n", "/steps/0/id");
    CHECK(r.status == 422);
    CHECK(
        body.view() ==
        R"({"error":{"code":"invalid_definition","message":"bad \"id\"\n","field":"/steps/0/id"}})");
  }

  TEST_CASE("HEAD responses carry the GET length but no body") {
    Buffer body, out;
    std::string hdrs;
    Response r(body, hdrs);
    r.Json(200, "{\"a\":1}");
    rf::http::SerializeResponse(r, true, false, true, "Date: x\r\n", out);
    CHECK(out.view().find("Content-Length: 7\r\n") != std::string_view::npos);
    CHECK(out.view().ends_with("\r\n\r\n"));
  }

  TEST_CASE("a 304 has neither Content-Length nor a body") {
    Buffer body, out;
    std::string hdrs;
    Response r(body, hdrs);
    r.status = 304;
    r.content_type = {};
    r.body.Append("ignored");
    r.AddHeader("ETag", "\"x\"");
    rf::http::SerializeResponse(r, true, false, false, "Date: x\r\n", out);
    CHECK(out.view().starts_with("HTTP/1.1 304 Not Modified\r\n"));
    CHECK(out.view().find("Content-Length") == std::string_view::npos);
    CHECK(out.view().find("ETag: \"x\"\r\n") != std::string_view::npos);
    CHECK(out.view().ends_with("\r\n\r\n"));
  }

  TEST_CASE("HTTP/1.0 keep-alive is echoed and close is announced") {
    Buffer body, out;
    std::string hdrs;
    Response r(body, hdrs);
    r.Json(200, "{}");
    rf::http::SerializeResponse(r, true, true, false, "", out);
    CHECK(out.view().starts_with("HTTP/1.0 200 OK\r\n"));
    CHECK(out.view().find("Connection: keep-alive\r\n") != std::string_view::npos);
    out.Clear();
    rf::http::SerializeResponse(r, false, false, false, "", out);
    CHECK(out.view().find("Connection: close\r\n") != std::string_view::npos);
  }
}

#include "http/server.h"

TEST_SUITE("http.server") {
TEST_CASE("Host checks compare the name without its port, case-insensitively") {
  const std::vector<std::string> allowed{"localhost", "api.example.com", "[::1]"};
  CHECK(rf::http::HostAllowed("localhost", allowed));
  CHECK(rf::http::HostAllowed("LocalHost:8080", allowed));
  CHECK(rf::http::HostAllowed("api.example.com.", allowed));
  CHECK(rf::http::HostAllowed("[::1]:8080", allowed));
  CHECK_FALSE(rf::http::HostAllowed("evil.example", allowed));
  CHECK_FALSE(rf::http::HostAllowed("api.example.com.evil", allowed));
  CHECK_FALSE(rf::http::HostAllowed("", allowed));
  CHECK_FALSE(rf::http::HostAllowed("[::1", allowed));
}

TEST_CASE("JSON content types: application/json and +json, parameters and case ignored") {
  CHECK(rf::http::IsJsonContentType("application/json"));
  CHECK(rf::http::IsJsonContentType("Application/JSON; charset=utf-8"));
  CHECK(rf::http::IsJsonContentType("application/merge-patch+json"));
  CHECK_FALSE(rf::http::IsJsonContentType(""));
  CHECK_FALSE(rf::http::IsJsonContentType("text/plain"));
  CHECK_FALSE(rf::http::IsJsonContentType("application/x-www-form-urlencoded"));
  CHECK_FALSE(rf::http::IsJsonContentType("text/json"));
  CHECK_FALSE(rf::http::IsJsonContentType("application/+json"));
}
}

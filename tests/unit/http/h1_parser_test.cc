#include "http/h1_parser.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace rf::http {
namespace {

using Kind = ParseResult::Kind;
using namespace std::string_view_literals;

// Parses a copy of `wire` (the parser may rewrite it); the views in `req` point into `bytes`.
struct Parsed {
  explicit Parsed(std::string_view wire, Limits limits = {}) : bytes(wire.begin(), wire.end()) {
    result = H1Parser(limits).Parse(bytes, req);
  }
  std::vector<char> bytes;
  Request req;
  ParseResult result;
};

bool Inside(std::string_view v, const std::vector<char>& bytes) {
  return v.empty() ||
         (v.data() >= bytes.data() && v.data() + v.size() <= bytes.data() + bytes.size());
}

// Snapshot of a complete parse, comparable across buffers.
struct Summary {
  std::string method, target, path, query, body;
  std::vector<std::string> headers;
  int version_minor = -1;
  bool keep_alive = false, chunked = false;
  size_t consumed = 0;
  bool operator==(const Summary&) const = default;
};

Summary Summarize(const Parsed& p) {
  Summary s;
  s.method = p.req.method_str;
  s.target = p.req.target;
  s.path = p.req.path;
  s.query = p.req.query;
  s.body = p.req.body;
  for (size_t i = 0; i < p.req.header_count; ++i) {
    s.headers.push_back(std::string(p.req.headers[i].name) + ":" +
                        std::string(p.req.headers[i].value));
  }
  s.version_minor = p.req.version_minor;
  s.keep_alive = p.req.keep_alive;
  s.chunked = p.req.chunked;
  s.consumed = p.result.consumed;
  return s;
}

struct BadCase {
  std::string_view wire;
  int status;
};

void CheckErrors(const std::vector<BadCase>& cases, Limits limits = {}) {
  for (const auto& c : cases) {
    Parsed p(c.wire, limits);
    INFO("request: ", std::string(c.wire));
    CHECK(p.result.kind == Kind::kError);
    CHECK(p.result.status == c.status);
    CHECK_FALSE(p.result.message.empty());
    // Errors never touch the buffer.
    CHECK(std::string_view(p.bytes.data(), p.bytes.size()) == c.wire);
  }
}

}  // namespace

TEST_SUITE("http.h1_parser") {
  TEST_CASE("a simple GET is parsed into method, target, path, query and headers") {
    const std::string_view wire =
        "GET /v1/workflows/a?limit=10&x=y HTTP/1.1\r\nHost: example.com\r\n"
        "User-Agent:  curl/8.0 \t\r\nAccept: */*\r\n\r\n";
    Parsed p(wire);
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.result.consumed == wire.size());
    CHECK(p.result.head_done);
    CHECK(p.req.method == Method::kGet);
    CHECK(p.req.method_str == "GET");
    CHECK(p.req.target == "/v1/workflows/a?limit=10&x=y");
    CHECK(p.req.path == "/v1/workflows/a");
    CHECK(p.req.query == "limit=10&x=y");
    CHECK(p.req.version_minor == 1);
    REQUIRE(p.req.header_count == 3);
    CHECK(p.req.headers[1].name == "User-Agent");
    CHECK(p.req.headers[1].value == "curl/8.0");
    CHECK(p.req.Header("host") == "example.com");
    CHECK(p.req.Header("ACCEPT") == "*/*");
    CHECK(p.req.Header("missing").empty());
    CHECK(p.req.keep_alive);
    CHECK_FALSE(p.req.chunked);
    CHECK_FALSE(p.req.expect_continue);
    CHECK(p.req.body.empty());
    CHECK(Inside(p.req.target, p.bytes));
    CHECK(Inside(p.req.headers[2].value, p.bytes));
  }

  TEST_CASE("a HEAD request and every known method map to their enum values") {
    const std::vector<std::pair<std::string_view, Method>> methods = {
        {"GET", Method::kGet},         {"HEAD", Method::kHead},      {"POST", Method::kPost},
        {"PUT", Method::kPut},         {"DELETE", Method::kDelete},  {"PATCH", Method::kPatch},
        {"OPTIONS", Method::kOptions}, {"PROPFIND", Method::kOther}, {"get", Method::kOther},
    };
    for (const auto& entry : methods) {
      const std::string_view name = entry.first;
      const Method method = entry.second;
      Parsed p(std::string(name) + " /x HTTP/1.1\r\nHost: h\r\n\r\n");
      INFO(std::string(name));
      REQUIRE(p.result.kind == Kind::kComplete);
      CHECK(p.req.method == method);
      CHECK(p.req.method_str == name);
      if (method != Method::kOther) CHECK(MethodName(method) == name);
    }
    CHECK(MethodName(Method::kOther).empty());
  }

  TEST_CASE("a POST with Content-Length carries exactly that many body bytes") {
    const std::string_view wire =
        "POST /v1/runs HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
        "Content-Type: application/json\r\n\r\n{\"a\":12345}GET";
    Parsed p(wire);
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.req.method == Method::kPost);
    CHECK(p.req.body == "{\"a\":12345}");
    CHECK(p.result.consumed == wire.size() - 3);
    CHECK(p.result.head_size == wire.size() - 3 - 11);
  }

  TEST_CASE("a body shorter than Content-Length is incomplete with the head done") {
    Parsed p("POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345");
    CHECK(p.result.kind == Kind::kIncomplete);
    CHECK(p.result.head_done);
    CHECK_FALSE(p.result.expect_continue);
    CHECK(p.req.path == "/r");
    CHECK(p.req.body.empty());
  }

  TEST_CASE("identical duplicate Content-Length headers are accepted") {
    Parsed p("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.req.body == "abc");
  }

  TEST_CASE("a chunked body is de-chunked in place with extensions and trailers ignored") {
    const std::string_view wire =
        "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n"
        "1 ; a=\"b c\"\r\n,\r\n"
        "0006\r\n world\r\n"
        "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
        "NEXT";
    Parsed p(wire);
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.req.chunked);
    CHECK(p.req.body == "hello, world");
    CHECK(p.result.consumed == wire.size() - 4);
    CHECK(Inside(p.req.body, p.bytes));
    CHECK(std::string_view(p.bytes.data() + p.result.consumed, 4) == "NEXT");
    CHECK(p.req.Header("transfer-encoding") == "Chunked");
  }

  TEST_CASE("an empty chunked body is complete with an empty body") {
    Parsed p("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.req.body.empty());
    CHECK(p.result.consumed == p.bytes.size());
  }

  TEST_CASE("an incomplete chunked body leaves the buffer untouched") {
    const std::string_view wire =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\nde";
    Parsed p(wire);
    CHECK(p.result.kind == Kind::kIncomplete);
    CHECK(p.result.head_done);
    CHECK(std::string_view(p.bytes.data(), p.bytes.size()) == wire);
  }

  TEST_CASE("pipelined requests are split at message boundaries") {
    const std::string wire =
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        "GET /d HTTP/1.1\r\n";
    std::vector<char> bytes(wire.begin(), wire.end());
    H1Parser parser;
    Request req;
    std::span<char> rest(bytes);
    std::vector<std::string> seen;
    for (;;) {
      const ParseResult r = parser.Parse(rest, req);
      if (r.kind != Kind::kComplete) {
        CHECK(r.kind == Kind::kIncomplete);
        CHECK_FALSE(r.head_done);
        break;
      }
      seen.push_back(std::string(req.path) + "=" + std::string(req.body));
      rest = rest.subspan(r.consumed);
    }
    CHECK(seen == std::vector<std::string>{"/a=", "/b=hi", "/c=ok"});
    CHECK(std::string_view(rest.data(), rest.size()) == "GET /d HTTP/1.1\r\n");
  }

  TEST_CASE("every byte-boundary split is incomplete until the whole message is buffered") {
    const std::vector<std::string_view> wires = {
        "GET /a?b=c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "\r\n\r\nPOST /p HTTP/1.0\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\nhello",
        "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "a;ext=1\r\n0123456789\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    };
    for (const std::string_view wire : wires) {
      INFO("request: ", std::string(wire));
      const Parsed whole(wire);
      REQUIRE(whole.result.kind == Kind::kComplete);
      REQUIRE(whole.result.consumed == wire.size());
      for (size_t n = 0; n < wire.size(); ++n) {
        const Parsed prefix(wire.substr(0, n));
        CAPTURE(n);
        REQUIRE(prefix.result.kind == Kind::kIncomplete);
        CHECK(std::string_view(prefix.bytes.data(), n) == wire.substr(0, n));
      }
      // With trailing bytes of a next message, the result is the same as for the exact buffer.
      const Parsed more(std::string(wire) + "GET / HTTP/1.1\r\n");
      REQUIRE(more.result.kind == Kind::kComplete);
      CHECK(Summarize(more) == Summarize(whole));
    }
  }

  TEST_CASE("a message fed to one parser byte by byte parses as it does whole") {
    const std::vector<std::string_view> wires = {
        "GET /a?b=c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "POST /p HTTP/1.0\r\nContent-Length: 5\r\nConnection: Keep-Alive\r\n\r\nhello",
        "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "a;ext=1\r\n0123456789\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
    };
    for (const std::string_view wire : wires) {
      INFO("request: ", std::string(wire));
      const Parsed whole(wire);
      REQUIRE(whole.result.kind == Kind::kComplete);
      std::vector<char> bytes(wire.begin(), wire.end());
      H1Parser parser;
      Parsed fed("");
      for (size_t n = 1; n <= wire.size(); ++n) {
        fed.result = parser.Parse({bytes.data(), n}, fed.req);
        CAPTURE(n);
        if (n < wire.size()) REQUIRE(fed.result.kind == Kind::kIncomplete);
      }
      fed.bytes = bytes;  // Summarize reads the views, which point into `bytes`
      REQUIRE(fed.result.kind == Kind::kComplete);
      CHECK(Summarize(fed) == Summarize(whole));
    }
  }

  TEST_CASE("a chunked body in many small reads costs parser work linear in its bytes") {
    const std::string head = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string wire = head;
    std::string expected;
    for (int i = 0; i < 4000; ++i) {
      wire += "a\r\n0123456789\r\n";
      expected += "0123456789";
    }
    wire += "0\r\n\r\n";
    for (const size_t piece : {size_t{15}, size_t{7}, size_t{1000}}) {
      CAPTURE(piece);
      std::vector<char> bytes(wire.begin(), wire.end());
      H1Parser parser;
      Request req;
      ParseResult r;
      size_t calls = 0;
      for (size_t n = std::min(piece, wire.size());; n = std::min(n + piece, wire.size())) {
        r = parser.Parse({bytes.data(), n}, req);
        ++calls;
        if (n == wire.size()) break;
        REQUIRE(r.kind == Kind::kIncomplete);
      }
      REQUIRE(r.kind == Kind::kComplete);
      CHECK(req.body == expected);
      CHECK(calls >= wire.size() / piece);
      // Each byte is validated once and moved once, plus a partial size line per call at most.
      // Re-parsing from the start on every call would examine ~calls * wire / 2 bytes.
      CHECK(parser.stats().bytes_examined <= 3 * wire.size());
    }
  }

  TEST_CASE("one large chunk arriving in small reads is not rescanned") {
    const std::string head = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string wire = head + "80000\r\n" + std::string(0x80000, 'z') + "\r\n0\r\n\r\n";
    std::vector<char> bytes(wire.begin(), wire.end());
    H1Parser parser;
    Request req;
    ParseResult r;
    for (size_t n = 1024;; n = std::min(n + 1024, wire.size())) {
      r = parser.Parse({bytes.data(), n}, req);
      if (n == wire.size()) break;
    }
    REQUIRE(r.kind == Kind::kComplete);
    CHECK(req.body.size() == 0x80000);
    CHECK(parser.stats().bytes_examined <= 3 * wire.size());
  }

  TEST_CASE("a Content-Length body in many reads does not re-parse the head") {
    const std::string head = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n";
    const std::string wire = head + std::string(100000, 'b');
    std::vector<char> bytes(wire.begin(), wire.end());
    H1Parser parser;
    Request req;
    ParseResult r;
    for (size_t n = 100;; n = std::min(n + 100, wire.size())) {
      r = parser.Parse({bytes.data(), n}, req);
      if (n == wire.size()) break;
    }
    REQUIRE(r.kind == Kind::kComplete);
    CHECK(req.body.size() == 100000);
    // Once while incomplete (100 bytes), once complete; the body is not scanned.
    CHECK(parser.stats().bytes_examined <= 100 + head.size());
  }

  TEST_CASE("a parser resumes after the buffered bytes moved") {
    const std::string wire =
        "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    std::vector<char> first(wire.begin(), wire.end());
    H1Parser parser;
    Request req;
    const size_t half = wire.find("4\r\n") + 1;
    ParseResult r = parser.Parse({first.data(), half}, req);
    REQUIRE(r.kind == Kind::kIncomplete);
    REQUIRE(r.head_done);
    std::vector<char> second(first);  // the connection's buffer grew: same bytes, new address
    first.assign(first.size(), 'X');
    r = parser.Parse(second, req);
    REQUIRE(r.kind == Kind::kComplete);
    CHECK(req.body == "abcdefg");
    CHECK(req.path == "/c");
    CHECK(Inside(req.path, second));
    CHECK(Inside(req.body, second));
    CHECK(r.consumed == wire.size());
  }

  TEST_CASE("after a complete or failed message the parser starts afresh") {
    H1Parser parser;
    Request req;
    std::string bad = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab";
    std::vector<char> b1(bad.begin(), bad.end());
    REQUIRE(parser.Parse(b1, req).kind == Kind::kIncomplete);
    b1.push_back('c');
    b1.push_back('X');  // no CRLF after the chunk data
    REQUIRE(parser.Parse(b1, req).status == 400);
    const std::string ok = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    std::vector<char> b2(ok.begin(), ok.end());
    const ParseResult r = parser.Parse(b2, req);
    REQUIRE(r.kind == Kind::kComplete);
    CHECK(req.path == "/next");
  }

  TEST_CASE("HTTP/1.1 keeps the connection alive unless Connection: close") {
    CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").req.keep_alive);
    CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").req.keep_alive);
    CHECK_FALSE(
        Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n").req.keep_alive);
    CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n").req.keep_alive);
  }

  TEST_CASE("HTTP/1.0 keeps the connection alive only with Connection: keep-alive") {
    Parsed plain("GET / HTTP/1.0\r\n\r\n");
    REQUIRE(plain.result.kind == Kind::kComplete);
    CHECK(plain.req.version_minor == 0);
    CHECK_FALSE(plain.req.keep_alive);
    CHECK(Parsed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").req.keep_alive);
    CHECK(Parsed("GET / HTTP/1.0\r\nConnection: foo ,\tkeep-alive\r\n\r\n").req.keep_alive);
    CHECK(
        Parsed("GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive\r\n\r\n").req.keep_alive);
    CHECK_FALSE(Parsed("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").req.keep_alive);
  }

  TEST_CASE("Expect: 100-continue is reported once the head is done") {
    const std::string_view head =
        "POST /r HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
    Parsed waiting(head);
    CHECK(waiting.result.kind == Kind::kIncomplete);
    CHECK(waiting.result.head_done);
    CHECK(waiting.result.expect_continue);
    CHECK(waiting.result.head_size == head.size());
    CHECK(waiting.req.expect_continue);
    CHECK(waiting.req.path == "/r");

    Parsed done(std::string(head) + "abcd");
    REQUIRE(done.result.kind == Kind::kComplete);
    CHECK(done.req.expect_continue);
    CHECK(done.req.body == "abcd");

    // HTTP/1.0 clients do not wait for 100 Continue (RFC 9110 §10.1.1).
    Parsed old("POST /r HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    CHECK(old.result.head_done);
    CHECK_FALSE(old.result.expect_continue);
  }

  TEST_CASE("leading empty lines before the request line are skipped up to a bound") {
    Parsed p("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.result.consumed == p.bytes.size());
    std::string many;
    for (size_t i = 0; i <= kMaxLeadingEmptyLines; ++i) many += "\r\n";
    CHECK(Parsed(many + "GET / HTTP/1.1\r\nHost: h\r\n\r\n").result.status == 400);
  }

  TEST_CASE("absolute-form targets are accepted and routed by their path") {
    Parsed p("GET http://example.com:8080/v1/x?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.req.target == "http://example.com:8080/v1/x?y=1");
    CHECK(p.req.path == "/v1/x");
    CHECK(p.req.query == "y=1");
    Parsed s("GET HTTPS://h/ HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(s.result.kind == Kind::kComplete);
    CHECK(s.req.path == "/");
  }

  TEST_CASE("OPTIONS * is accepted with path '*'") {
    Parsed p("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(p.result.kind == Kind::kComplete);
    CHECK(p.req.path == "*");
    CHECK(p.req.query.empty());
  }

  TEST_CASE("header values keep inner whitespace and obs-text, and may be empty") {
    Parsed p("GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\nX-B: \t \r\nX-C: a  b\t\xc3\xa9\r\n\r\n");
    REQUIRE(p.result.kind == Kind::kComplete);
    REQUIRE(p.req.header_count == 4);
    CHECK(p.req.headers[1].value.empty());
    CHECK(p.req.headers[2].value.empty());
    CHECK(p.req.Header("x-c") == "a  b\t\xc3\xa9");
  }

  TEST_CASE("a control character anywhere in a long value or target is found") {
    // Covers both the 16-byte vector scan and the scalar tail.
    for (size_t pos = 0; pos < 40; ++pos) {
      CAPTURE(pos);
      std::string value(40, 'v');
      value[pos] = '\t';
      Parsed tab("GET / HTTP/1.1\r\nHost: h\r\nX: v" + value + "v\r\n\r\n");
      REQUIRE(tab.result.kind == Kind::kComplete);
      CHECK(tab.req.Header("x").size() == 42);
      for (char bad : {'\0', '\x01', '\x1f', '\x7f', '\r', '\n'}) {
        value[pos] = bad;
        CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\nX: v" + value + "v\r\n\r\n").result.status ==
              400);
        std::string target = "/" + std::string(40, 't');
        target[pos + 1] = bad;
        CHECK(Parsed("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n").result.status == 400);
      }
    }
  }

  TEST_CASE("exactly kMaxHeaders headers are accepted, one more is 431") {
    std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (size_t i = 1; i < kMaxHeaders; ++i) wire += "X-" + std::to_string(i) + ": v\r\n";
    Parsed ok(wire + "\r\n");
    REQUIRE(ok.result.kind == Kind::kComplete);
    CHECK(ok.req.header_count == kMaxHeaders);
    Parsed bad(wire + "X-Last: v\r\n\r\n");
    CHECK(bad.result.kind == Kind::kError);
    CHECK(bad.result.status == 431);
  }

  TEST_CASE("a head of exactly max_head bytes is accepted and one byte more is 431") {
    const Limits limits{.max_head = 64, .max_body = 16};
    std::string wire = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    wire += std::string(64 - wire.size() - 4, 'a') + "\r\n\r\n";
    REQUIRE(wire.size() == 64);
    CHECK(Parsed(wire, limits).result.kind == Kind::kComplete);
    CHECK(Parsed(wire + "GET", limits).result.kind == Kind::kComplete);
    wire.insert(wire.size() - 4, "a");
    // Reported as soon as more than max_head bytes are buffered, even before the head ends.
    CHECK(Parsed(wire.substr(0, 64), limits).result.kind == Kind::kIncomplete);
    CHECK(Parsed(wire.substr(0, 65), limits).result.status == 431);
    CHECK(Parsed(std::string(100, 'G'), limits).result.status == 431);
  }

  TEST_CASE("malformed request lines are rejected with 400 or 505") {
    CheckErrors({
        {"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},          // bad method token
        {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},         // empty method
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},         // two spaces
        {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},         // trailing space
        {"GET /\r\nHost: h\r\n\r\n", 400},                   // missing version
        {"GET\r\nHost: h\r\n\r\n", 400},                     // method only
        {"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},        // not origin-form
        {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},          // '*' for GET
        {"GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400},  // unsupported scheme
        {"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", 400},   // absolute-form, no path
        {"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400},  // absolute-form, no authority
        {"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},     // control char in target
        {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400},      // tab in target
        {"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},     // DEL in target
        {"GET /a HTTP/1.1\r\r\nHost: h\r\n\r\n", 400},       // CR in request line
        {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},          // lower-case protocol
        {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},         // bad version syntax
        {"GET / HTTP/11\r\nHost: h\r\n\r\n", 400},           // bad version syntax
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},          // unsupported version
        {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},          // unsupported version
        {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},          // unsupported version
        {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400},            // bare LF after request line
        {"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},        // bare LF before request
        {"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},        // lone CR before request
    });
  }

  TEST_CASE("malformed header lines are rejected with 400") {
    CheckErrors({
        {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400},  // space in name
        {"GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", 400},      // separator in name
        {"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},          // empty name
        {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},      // no ':'
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},                // space before ':'
        {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},               // tab before ':'
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},   // obs-fold
        {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},                // leading whitespace
        {"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},           // bare LF in headers
        {"GET / HTTP/1.1\r\nHost: h\r\n\n", 400},                   // bare LF as final line
        {"GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n", 400},       // CR without LF
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"sv, 400},    // NUL
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},      // CR in value
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n", 400},  // CTL in value
        {"GET / HTTP/1.1\r\nHost: h\r\nX: \x7f\r\n\r\n", 400},      // DEL in value
        {"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},                    // missing Host
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},      // two Hosts
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},      // two identical Hosts
    });
  }

  TEST_CASE("invalid or conflicting body framing is rejected") {
    const std::string_view h = "POST / HTTP/1.1\r\nHost: h\r\n";
    const auto w = [&](std::string_view rest) { return std::string(h) + std::string(rest); };
    const std::vector<std::string> wires = {
        w("Content-Length: abc\r\n\r\n"),
        w("Content-Length:\r\n\r\n"),
        w("Content-Length: +5\r\n\r\n"),
        w("Content-Length: -1\r\n\r\n"),
        w("Content-Length: 1 2\r\n\r\n"),
        w("Content-Length: 5, 5\r\n\r\n"),
        w("Content-Length: 0x10\r\n\r\n"),
        w("Content-Length: 18446744073709551616\r\n\r\n"),
        w("Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        w("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        w("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        w("Transfer-Encoding: gzip, chunked\r\n\r\n"),
        w("Transfer-Encoding: gzip\r\n\r\n"),
        w("Transfer-Encoding: identity\r\n\r\n"),
        w("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        w("Content-Length: 1048577\r\n\r\n"),
        w("Content-Length: 99999999999\r\n\r\n"),
    };
    const std::vector<int> statuses = {400, 400, 400, 400, 400, 400, 400, 400, 400,
                                       400, 400, 400, 501, 501, 501, 501, 413, 413};
    REQUIRE(wires.size() == statuses.size());
    std::vector<BadCase> cases;
    for (size_t i = 0; i < wires.size(); ++i) cases.push_back({wires[i], statuses[i]});
    CheckErrors(cases);
  }

  TEST_CASE("malformed or oversized chunked bodies are rejected") {
    const std::string h = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::vector<std::string> wires = {
        h + "g\r\n",                                                    // non-hex size
        h + "\r\n",                                                     // empty size
        h + "-1\r\n",                                                   // sign
        h + "0x5\r\nhello\r\n0\r\n\r\n",                                // 0x prefix
        h + "5 x\r\nhello\r\n0\r\n\r\n",                                // junk after size
        h + "5\nhello\r\n0\r\n\r\n",                                    // bare LF after size
        h + "5\r\nhelloXY0\r\n\r\n",                                    // no CRLF after data
        h + "5\r\nhello\n0\r\n\r\n",                                    // bare LF after data
        h + "5\r\nhello\rX",                                            // CR then junk after data
        h + "5;a=\x01\r\nhello\r\n0\r\n\r\n",                           // CTL in extension
        h + "1ffffffffffffffff\r\n",                                    // 65-bit size
        h + "0\r\nBad Trailer: x\r\n\r\n",                              // invalid trailer name
        h + "0\r\nT: a\nX",                                             // bare LF in trailers
        h + "0\r\n folded\r\n\r\n",                                     // obs-fold in trailers
        h + std::string(kMaxChunkLine + 8, '0'),                        // endless chunk-size line
        h + "1;" + std::string(kMaxChunkLine, 'e') + "\r\n",            // extension too long
        h + "100001\r\n",                                               // one chunk over max_body
        h + "80000\r\n" + std::string(0x80000, 'a') + "\r\n80001\r\n",  // total over max_body
        h + "fffffffff\r\n",                                            // huge but fits in 64 bits
    };
    const std::vector<int> statuses = {400, 400, 400, 400, 400, 400, 400, 400, 400, 400,
                                       400, 400, 400, 400, 400, 400, 413, 413, 413};
    REQUIRE(wires.size() == statuses.size());
    std::vector<BadCase> cases;
    for (size_t i = 0; i < wires.size(); ++i) cases.push_back({wires[i], statuses[i]});
    CheckErrors(cases);
  }

  TEST_CASE("chunked framing and trailers are bounded") {
    const Limits limits{.max_head = 128, .max_body = 64};
    const std::string h = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    // 64 data bytes in 1-byte chunks take 64 * 6 wire bytes > max_body + max_head.
    std::string tiny;
    for (int i = 0; i < 64; ++i) tiny += "1\r\nx\r\n";
    Parsed framing(h + tiny + "0\r\n\r\n", limits);
    CHECK(framing.result.status == 413);
    // Without the final chunk, reported as soon as that many bytes are buffered.
    CHECK(Parsed(h + tiny, limits).result.status == 413);
    // Trailers larger than max_head.
    Parsed trailers(h + "0\r\nT: " + std::string(200, 't') + "\r\n\r\n", limits);
    CHECK(trailers.result.status == 431);
    Parsed ok(h + "40\r\n" + std::string(64, 'a') + "\r\n0\r\n\r\n", limits);
    REQUIRE(ok.result.kind == Kind::kComplete);
    CHECK(ok.req.body.size() == 64);
    CHECK(ok.result.consumed <= H1Parser(limits).MaxMessageBytes());
  }

  TEST_CASE("a body over a custom max_body is 413 and one at it is accepted") {
    const Limits limits{.max_head = 1024, .max_body = 4};
    CHECK(Parsed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", limits).result.status ==
          413);
    Parsed ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd", limits);
    REQUIRE(ok.result.kind == Kind::kComplete);
    CHECK(ok.req.body == "abcd");
  }
}

}  // namespace rf::http

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/client/response_parser.h"

namespace rf::http::client {
namespace {

using namespace std::string_view_literals;

// The outcome of feeding a whole wire image, comparable across feeding patterns.
struct Outcome {
  bool complete = false;
  Errc error = Errc::kOk;
  size_t consumed = 0;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = false;
  bool operator==(const Outcome&) const = default;
};

// Feeds `wire` in pieces of at most `piece` bytes (0: all at once), stopping at completion or
// error.
Outcome FeedAll(std::string_view wire, size_t piece = 0, bool head_request = false,
                ResponseLimits limits = {}, bool eof = false) {
  ResponseParser p(limits);
  p.Reset(head_request);
  Outcome o;
  size_t off = 0;
  while (off < wire.size() && !p.complete()) {
    const size_t n = piece == 0 ? wire.size() - off : std::min(piece, wire.size() - off);
    Result<size_t> used = p.Feed(wire.substr(off, n));
    if (!used) {
      o.error = used.error().code;
      return o;
    }
    off += *used;
    if (*used < n) CHECK(p.complete());
  }
  if (eof && !p.complete()) {
    if (Status st = p.FinishAtEof(); !st) {
      o.error = st.error().code;
      return o;
    }
  }
  o.complete = p.complete();
  o.consumed = off;
  if (o.complete) {
    o.keep_alive = p.keep_alive();
    Response r = p.TakeResponse();
    o.status = r.status;
    o.headers = r.headers;
    o.body = r.body;
  }
  return o;
}

Outcome Complete(std::string_view wire, bool head_request = false, ResponseLimits limits = {}) {
  Outcome o = FeedAll(wire, 0, head_request, limits);
  REQUIRE_MESSAGE(o.error == Errc::kOk, wire);
  REQUIRE_MESSAGE(o.complete, wire);
  return o;
}

Errc ErrorOf(std::string_view wire, ResponseLimits limits = {}, bool head_request = false) {
  return FeedAll(wire, 0, head_request, limits, /*eof=*/false).error;
}

constexpr std::string_view kValid[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n"
    "6\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
    "HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.1 200 OK\r\nContent-Type:text/plain  \r\ncontent-length:\t3\r\n\r\nabc",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n000A\r\n0123456789\r\n00\r\n\r\n",
};

}  // namespace

TEST_SUITE("http.client_response") {
  TEST_CASE("a Content-Length response yields status, headers in order, body and keep-alive") {
    const Outcome o = Complete("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c \r\n\r\nhello");
    CHECK(o.status == 200);
    REQUIRE(o.headers.size() == 2);
    CHECK(o.headers[0] == std::pair<std::string, std::string>("Content-Length", "5"));
    CHECK(o.headers[1] == std::pair<std::string, std::string>("X-A", "b c"));
    CHECK(o.body == "hello");
    CHECK(o.keep_alive);
  }

  TEST_CASE("header lookup is case-insensitive") {
    ResponseParser p;
    p.Reset();
    REQUIRE(p.Feed("HTTP/1.1 200 OK\r\ncontent-TYPE: a/b\r\nContent-Length: 0\r\n\r\n"));
    REQUIRE(p.complete());
    CHECK(p.response().Header("Content-Type") == "a/b");
    CHECK(p.response().Header("X-Missing").empty());
  }

  TEST_CASE("every valid response parses the same when split at any byte or fed byte by byte") {
    for (std::string_view wire : kValid) {
      const Outcome whole = FeedAll(wire);
      REQUIRE_MESSAGE(whole.complete, wire);
      CHECK(FeedAll(wire, 1) == whole);
      for (size_t cut = 1; cut < wire.size(); ++cut) {
        ResponseParser p;
        p.Reset();
        Result<size_t> a = p.Feed(wire.substr(0, cut));
        REQUIRE_MESSAGE(a.has_value(), "prefix of ", wire, " at ", cut);  // never an error
        CHECK(*a == cut);
        CHECK_FALSE(p.complete());
        Result<size_t> b = p.Feed(wire.substr(cut));
        REQUIRE(b.has_value());
        CHECK(*b == wire.size() - cut);
        REQUIRE(p.complete());
        CHECK(p.response().body == whole.body);
        CHECK(p.response().headers == whole.headers);
      }
    }
  }

  TEST_CASE("a chunked body is de-chunked; extensions and trailers are dropped") {
    const Outcome o = Complete(kValid[1]);
    CHECK(o.body == "hello world");
    CHECK(o.keep_alive);
    REQUIRE(o.headers.size() == 1);  // the trailer is not a header
    CHECK(Complete(kValid[7]).body == "0123456789");
  }

  TEST_CASE("interim 1xx responses are skipped and their headers discarded") {
    const Outcome o = Complete(kValid[2]);
    CHECK(o.status == 201);
    CHECK(o.body == "ok");
    REQUIRE(o.headers.size() == 1);
    CHECK(o.headers[0].first == "Content-Length");
  }

  TEST_CASE("101 Switching Protocols is an error: the client never asks to upgrade") {
    CHECK(ErrorOf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n") == Errc::kIo);
  }

  TEST_CASE("an endless stream of interim responses is cut off") {
    std::string wire;
    for (size_t i = 0; i <= kMaxInterimResponses; ++i) wire += "HTTP/1.1 100 Continue\r\n\r\n";
    CHECK(ErrorOf(wire) == Errc::kIo);
  }

  TEST_CASE("HEAD responses and 204 and 304 have no body whatever their headers say") {
    const Outcome head = Complete("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true);
    CHECK(head.body.empty());
    CHECK(head.keep_alive);
    CHECK(Complete("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true).body.empty());
    CHECK(Complete(kValid[4]).body.empty());
    CHECK(Complete("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n").body.empty());
    // Bytes after such a response are not consumed: they are not part of it.
    const std::string_view wire = "HTTP/1.1 204 No Content\r\n\r\nxyz";
    CHECK(Complete(wire).consumed == wire.size() - 3);
  }

  TEST_CASE("a response without framing is read until the connection closes") {
    const std::string_view wire = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body";
    const Outcome open = FeedAll(wire);
    CHECK(open.error == Errc::kOk);
    CHECK_FALSE(open.complete);
    const Outcome closed = FeedAll(wire, 3, false, {}, /*eof=*/true);
    REQUIRE(closed.complete);
    CHECK(closed.body == "some body");
    CHECK_FALSE(closed.keep_alive);
  }

  TEST_CASE("keep-alive follows the version and the Connection header") {
    CHECK_FALSE(
        Complete("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK_FALSE(
        Complete("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n")
            .keep_alive);
    CHECK_FALSE(Complete("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK(Complete(kValid[3]).keep_alive);
    CHECK(Complete("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
              .keep_alive);
  }

  TEST_CASE("a response that completes leaves the following bytes unconsumed") {
    const std::string_view wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1";
    CHECK(Complete(wire).consumed == wire.size() - 8);
  }

  TEST_CASE("EOF before a length-delimited body is complete is an error") {
    CHECK(FeedAll("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 0, false, {}, true).error ==
          Errc::kIo);
    CHECK(
        FeedAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 0, false, {}, true)
            .error == Errc::kIo);
    CHECK(FeedAll("HTTP/1.1 200 O", 0, false, {}, true).error == Errc::kIo);
  }

  TEST_CASE("malformed responses are rejected as kIo") {
    constexpr std::string_view kBad[] = {
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",                  // bare LF
        "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",                  // bare LF in a field
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",  // obs-fold
        "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",                            // space before ':'
        "HTTP/1.1 200 OK\r\nX(y): a\r\n\r\n",                          // name not a token
        "HTTP/1.1 200 OK\r\n: a\r\n\r\n",                              // empty name
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n",  // CTL in value
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",    // bare CR in value
        "HTTP/1.1 200 O\x00K\r\n\r\n"sv,         // NUL in reason
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",  // leading empty line
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n",            // bad size
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n",  // space first
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",  // no CRLF
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",  // 2^64
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
    };
    for (std::string_view wire : kBad) {
      CHECK_MESSAGE(ErrorOf(wire) == Errc::kIo, wire);
      CHECK_MESSAGE(FeedAll(wire, 1).error == Errc::kIo, wire);  // whatever the feeding pattern
    }
  }

  TEST_CASE("a chunk size line longer than the bound is an error, leading zeros included") {
    std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    wire.append(kMaxChunkLineBytes + 2, '0');
    CHECK(ErrorOf(wire) == Errc::kIo);
  }

  TEST_CASE("an error is sticky until Reset, which starts a fresh response") {
    ResponseParser p;
    p.Reset();
    CHECK_FALSE(p.Feed("HTTP/9.9 200 OK\r\n").has_value());
    CHECK_FALSE(p.Feed("HTTP/1.1 200 OK\r\n").has_value());
    p.Reset();
    REQUIRE(p.Feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").has_value());
    CHECK(p.complete());
  }

  TEST_CASE("a head over max_head is kTooLarge, one of exactly max_head is accepted") {
    const ResponseLimits limits{.max_head = 64, .max_body = 1024};
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ";
    head.append(64 - head.size() - 4, 'v');
    head += "\r\n\r\n";
    REQUIRE(head.size() == 64);
    CHECK(FeedAll(head, 0, false, limits).complete);
    CHECK(FeedAll(head, 1, false, limits).complete);
    head.insert(head.size() - 4, "v");
    CHECK(ErrorOf(head, limits) == Errc::kTooLarge);
    CHECK(FeedAll(head, 1, false, limits).error == Errc::kTooLarge);
    // A head that never ends is cut off at the bound, not buffered forever.
    CHECK(ErrorOf("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'v'), limits) == Errc::kTooLarge);
  }

  TEST_CASE("too many header fields is kTooLarge") {
    std::string wire = "HTTP/1.1 200 OK\r\n";
    for (size_t i = 0; i <= kMaxResponseHeaders; ++i) wire += "X: y\r\n";
    CHECK(ErrorOf(wire + "\r\n") == Errc::kTooLarge);
  }

  TEST_CASE("a body over max_body is kTooLarge however it is framed") {
    const ResponseLimits limits{.max_head = 1024, .max_body = 10};
    CHECK(FeedAll("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0, false, limits)
              .complete);
    // A declared length is refused before any body byte arrives.
    CHECK(ErrorOf("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", limits) == Errc::kTooLarge);
    CHECK(ErrorOf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n",
                  limits) == Errc::kTooLarge);
    CHECK(ErrorOf("HTTP/1.1 200 OK\r\n\r\n0123456789x", limits) == Errc::kTooLarge);
    std::string trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    for (int i = 0; i < 200; ++i) trailers += "T: v\r\n";
    CHECK(ErrorOf(trailers, limits) == Errc::kTooLarge);
  }

  TEST_CASE("TakeBody hands out a streamed body piece by piece and max_body bounds only what is kept") {
    ResponseParser p(ResponseLimits{.max_head = 1024, .max_body = 8});
    std::string_view head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    REQUIRE(p.Feed(head).has_value());
    CHECK(p.reading_until_close());
    std::string seen;
    for (int i = 0; i < 5; ++i) {  // 30 bytes in all, never more than 6 kept
      REQUIRE(p.Feed("data:\n").has_value());
      seen += p.TakeBody();
      CHECK(p.response().body.empty());
    }
    CHECK(seen.size() == 30);
    REQUIRE(p.Feed("123456").has_value());
    auto over = p.Feed("789");  // 9 bytes not taken
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error().code == Errc::kTooLarge);
  }
}

}  // namespace rf::http::client

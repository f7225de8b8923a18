// libFuzzer target for H1Parser (and Router::Find on the parsed paths). Run: tools/fuzz.sh http 60
//
// Each input is parsed as a stream of pipelined requests, under the default limits and under tiny
// ones (so the 413/431 paths are reached with short inputs), and checked against the contract:
// views stay inside the message, the buffer changes only on kComplete, the bounds hold, a complete
// message parses the same on its own and when fed in pieces to one parser (whose buffer moves
// once on the way), and its proper prefixes are incomplete, never errors.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "http/h1_parser.h"
#include "http/router.h"

namespace {

using rf::http::H1Parser;
using rf::http::Limits;
using rf::http::ParseResult;
using rf::http::Request;
using Kind = ParseResult::Kind;

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

const rf::http::Router<int>& TestRouter() {
  static const auto* router = [] {
    auto* r = new rf::http::Router<int>();
    r->Add(rf::http::Method::kGet, "/", 1);
    r->Add(rf::http::Method::kGet, "/v1/workflows", 2);
    r->Add(rf::http::Method::kGet, "/v1/workflows/{name}", 3);
    r->Add(rf::http::Method::kPost, "/v1/workflows/{name}/runs", 4);
    r->Add(rf::http::Method::kGet, "/v1/workflows/stats", 5);
    r->Add(rf::http::Method::kPost, "/v1/runs/{id}/signals/{signal}", 6);
    r->Add(rf::http::Method::kDelete, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", 7);
    return r;
  }();
  return *router;
}

// An exact-size heap copy, so ASan catches any read past the end.
std::unique_ptr<char[]> Copy(const char* data, size_t size) {
  auto p = std::make_unique<char[]>(size == 0 ? 1 : size);
  if (size != 0) std::memcpy(p.get(), data, size);
  return p;
}

bool Within(std::string_view v, const char* begin, size_t size) {
  return v.empty() || (v.data() >= begin && v.data() + v.size() <= begin + size);
}

void CheckRoute(const Request& req) {
  const auto m = TestRouter().Find(req.method, req.path);
  FUZZ_CHECK(m.params.count <= rf::http::kMaxParams);
  FUZZ_CHECK((m.handler != nullptr) == (m.kind == decltype(m)::Kind::kFound));
  for (size_t i = 0; i < m.params.count; ++i) {
    const std::string_view v = m.params.items[i].second;
    FUZZ_CHECK(!v.empty() && v.find('/') == std::string_view::npos &&
               Within(v, req.path.data(), req.path.size()));
  }
}

// Feeds the message in pieces of `step` bytes to one parser, moving the bytes to a new buffer
// halfway: every call before the last is incomplete, the last one equals the whole-buffer parse.
void CheckIncremental(const Limits& limits, const char* original, const ParseResult& whole,
                      const Request& whole_req, size_t step) {
  const size_t size = whole.consumed;
  H1Parser parser(limits);
  Request req;
  auto buf = Copy(original, size);
  bool moved = false;
  for (size_t n = step < size ? step : size;; n = n + step < size ? n + step : size) {
    if (!moved && n >= size / 2) {
      buf = Copy(buf.get(), size);  // the connection's buffer grew or was compacted
      moved = true;
    }
    const ParseResult r = parser.Parse({buf.get(), n}, req);
    if (n < size) {
      FUZZ_CHECK(r.kind == Kind::kIncomplete);
      FUZZ_CHECK(r.head_done == (n >= whole.head_size));
      FUZZ_CHECK(std::memcmp(buf.get(), original, n) == 0);
      continue;
    }
    FUZZ_CHECK(r.kind == Kind::kComplete && r.consumed == size && r.head_size == whole.head_size);
    FUZZ_CHECK(req.body == whole_req.body && req.target == whole_req.target);
    FUZZ_CHECK(req.header_count == whole_req.header_count && req.chunked == whole_req.chunked);
    FUZZ_CHECK(Within(req.body, buf.get(), size) && Within(req.target, buf.get(), size));
    return;
  }
}

void CheckComplete(const Limits& limits, const char* original, size_t size, const char* buf,
                   const ParseResult& r, const Request& req) {
  const H1Parser parser(limits);
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= size);
  FUZZ_CHECK(r.consumed <= parser.MaxMessageBytes());
  FUZZ_CHECK(r.head_done && r.head_size <= limits.max_head && r.head_size <= r.consumed);
  FUZZ_CHECK(req.body.size() <= limits.max_body);
  FUZZ_CHECK(req.header_count <= rf::http::kMaxHeaders);
  FUZZ_CHECK(req.version_minor == 0 || req.version_minor == 1);
  FUZZ_CHECK(!req.path.empty() && (req.path[0] == '/' || req.path == "*"));
  for (std::string_view v : {req.method_str, req.target, req.path, req.query, req.body}) {
    FUZZ_CHECK(Within(v, buf, r.consumed));
  }
  for (size_t i = 0; i < req.header_count; ++i) {
    FUZZ_CHECK(!req.headers[i].name.empty() && Within(req.headers[i].name, buf, r.head_size));
    FUZZ_CHECK(Within(req.headers[i].value, buf, r.head_size));
  }
  if (!req.chunked) {
    FUZZ_CHECK(r.consumed == r.head_size + req.body.size());
    FUZZ_CHECK(std::memcmp(buf, original, r.consumed) == 0);
  }
  // The head is never rewritten.
  FUZZ_CHECK(std::memcmp(buf, original, r.head_size) == 0);
  CheckRoute(req);

  // The message alone parses identically, and every tested proper prefix is incomplete.
  auto alone = Copy(original, r.consumed);
  Request again;
  const ParseResult r2 = H1Parser(limits).Parse({alone.get(), r.consumed}, again);
  FUZZ_CHECK(r2.kind == Kind::kComplete && r2.consumed == r.consumed);
  FUZZ_CHECK(again.body == req.body && again.target == req.target);
  FUZZ_CHECK(again.header_count == req.header_count && again.keep_alive == req.keep_alive);
  for (size_t cut :
       {size_t{0}, r.head_size - 1, r.head_size, r.consumed / 2, r.consumed - 2, r.consumed - 1}) {
    if (cut >= r.consumed) continue;
    auto prefix = Copy(original, cut);
    Request partial;
    const ParseResult rp = H1Parser(limits).Parse({prefix.get(), cut}, partial);
    FUZZ_CHECK(rp.kind == Kind::kIncomplete);
    FUZZ_CHECK(rp.head_done == (cut >= r.head_size));
    FUZZ_CHECK(std::memcmp(prefix.get(), original, cut) == 0);
  }
  CheckIncremental(limits, original, r, req, 1 + static_cast<unsigned char>(original[0]) % 61);
}

void ParseStream(const Limits& limits, const char* data, size_t size) {
  H1Parser parser(limits);
  auto buf = Copy(data, size);
  const auto original = Copy(data, size);
  size_t offset = 0;
  for (int messages = 0; messages < 64; ++messages) {
    const size_t left = size - offset;
    Request req;
    const ParseResult r = parser.Parse({buf.get() + offset, left}, req);
    switch (r.kind) {
      case Kind::kComplete:
        CheckComplete(limits, original.get() + offset, left, buf.get() + offset, r, req);
        offset += r.consumed;
        break;
      case Kind::kIncomplete:
        FUZZ_CHECK(std::memcmp(buf.get() + offset, original.get() + offset, left) == 0);
        if (r.head_done) {
          FUZZ_CHECK(r.head_size <= left && r.head_size <= parser.limits().max_head);
          FUZZ_CHECK(req.body.empty() && Within(req.target, buf.get() + offset, r.head_size));
          CheckRoute(req);
        }
        return;
      case Kind::kError:
        FUZZ_CHECK(std::memcmp(buf.get() + offset, original.get() + offset, left) == 0);
        FUZZ_CHECK(r.status == 400 || r.status == 413 || r.status == 431 || r.status == 501 ||
                   r.status == 505);
        FUZZ_CHECK(!r.message.empty());
        return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const char*>(data);
  ParseStream(Limits{}, bytes, size);
  ParseStream(Limits{.max_head = 96, .max_body = 48}, bytes, size);
  return 0;
}

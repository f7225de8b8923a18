// libFuzzer target for the outbound client's ResponseParser. Run: tools/fuzz.sh http_response 60
//
// Each input is one server's reply. It is parsed under the default limits and under tiny ones
// (so the kTooLarge paths are reached with short inputs), as a response to GET and to HEAD, and
// checked against the contract: the outcome does not depend on how the bytes are split across
// Feed calls, a complete response stays within the bounds and parses the same on its own, its
// proper prefixes are incomplete (never errors), errors are kIo or kTooLarge and sticky, and EOF
// completes only a close-delimited body.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "http/client/response_parser.h"

namespace {

using rf::Errc;
using rf::http::client::Response;
using rf::http::client::ResponseLimits;
using rf::http::client::ResponseParser;

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

struct Outcome {
  Errc error = Errc::kOk;
  bool complete = false;
  bool keep_alive = false;
  bool until_close = false;
  size_t consumed = 0;
  Response response;

  bool operator==(const Outcome& o) const {
    return error == o.error && complete == o.complete && keep_alive == o.keep_alive &&
           until_close == o.until_close && consumed == o.consumed &&
           response.status == o.response.status && response.headers == o.response.headers &&
           response.body == o.response.body;
  }
};

// Feeds `wire` in pieces whose sizes cycle through `sizes` (each piece an exact-size heap copy,
// so ASan sees any read past it), until the response completes or fails.
Outcome Run(std::string_view wire, const ResponseLimits& limits, bool head,
            std::string_view sizes) {
  ResponseParser p(limits);
  p.Reset(head);
  Outcome o;
  size_t off = 0;
  for (size_t i = 0; off < wire.size() && !p.complete(); ++i) {
    size_t n = wire.size() - off;
    if (!sizes.empty()) {
      n = std::min<size_t>(n, 1 + static_cast<uint8_t>(sizes[i % sizes.size()]) % 17);
    }
    auto piece = std::make_unique<char[]>(n);
    std::memcpy(piece.get(), wire.data() + off, n);
    rf::Result<size_t> used = p.Feed({piece.get(), n});
    if (!used) {
      o.error = used.error().code;
      FUZZ_CHECK(!used.error().context.empty());
      // Sticky: the parser stays failed with the same error.
      rf::Result<size_t> again = p.Feed("HTTP/1.1 200 OK\r\n\r\n");
      FUZZ_CHECK(!again && again.error().code == o.error);
      return o;
    }
    FUZZ_CHECK(*used <= n);
    FUZZ_CHECK(*used == n || p.complete());
    off += *used;
  }
  o.consumed = off;
  o.complete = p.complete();
  o.until_close = p.reading_until_close();
  if (o.complete) {
    o.keep_alive = p.keep_alive();
    o.response = p.TakeResponse();
  }
  return o;
}

void CheckComplete(std::string_view wire, const ResponseLimits& limits, bool head,
                   const Outcome& o) {
  const Response& r = o.response;
  FUZZ_CHECK(o.consumed > 0 && o.consumed <= wire.size());
  FUZZ_CHECK(r.status >= 200 && r.status <= 599);
  FUZZ_CHECK(r.body.size() <= limits.max_body && r.body.size() < o.consumed);
  FUZZ_CHECK(r.headers.size() <= rf::http::client::kMaxResponseHeaders);
  for (const auto& [name, value] : r.headers) {
    FUZZ_CHECK(!name.empty() && name.find_first_of(":\r\n \t") == std::string::npos);
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos);
  }
  if (head || r.status == 204 || r.status == 304) FUZZ_CHECK(r.body.empty());

  // The response alone parses the same, and its proper prefixes are incomplete, never errors.
  const std::string_view alone = wire.substr(0, o.consumed);
  FUZZ_CHECK(Run(alone, limits, head, {}) == o);
  for (size_t cut : {size_t{0}, size_t{1}, o.consumed / 2, o.consumed - 1}) {
    if (cut >= o.consumed) continue;
    const Outcome partial = Run(alone.substr(0, cut), limits, head, {});
    FUZZ_CHECK(partial.error == Errc::kOk && !partial.complete && partial.consumed == cut);
  }
}

void CheckEof(std::string_view wire, const ResponseLimits& limits, bool head, const Outcome& o) {
  ResponseParser p(limits);
  p.Reset(head);
  rf::Result<size_t> used = p.Feed(wire);
  FUZZ_CHECK(used && *used == wire.size());
  rf::Status st = p.FinishAtEof();
  if (o.until_close) {
    FUZZ_CHECK(st && p.complete() && !p.keep_alive());
    FUZZ_CHECK(p.response().body.size() <= limits.max_body);
  } else {
    FUZZ_CHECK(!st && st.error().code == Errc::kIo);
  }
}

void Check(std::string_view wire, const ResponseLimits& limits, bool head) {
  const Outcome whole = Run(wire, limits, head, {});
  FUZZ_CHECK(Run(wire, limits, head, std::string_view("\0", 1)) == whole);  // byte by byte
  FUZZ_CHECK(Run(wire, limits, head, wire) == whole);  // piece sizes drawn from the input
  if (whole.error != Errc::kOk) {
    FUZZ_CHECK(whole.error == Errc::kIo || whole.error == Errc::kTooLarge);
  } else if (whole.complete) {
    CheckComplete(wire, limits, head, whole);
  } else {
    FUZZ_CHECK(whole.consumed == wire.size());
    CheckEof(wire, limits, head, whole);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ResponseLimits kDefault;
  static const ResponseLimits kTiny{.max_head = 96, .max_body = 48};
  const std::string_view wire(reinterpret_cast<const char*>(data), size);
  for (bool head : {false, true}) {
    Check(wire, kDefault, head);
    Check(wire, kTiny, head);
  }
  return 0;
}

#include "http/h1_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/check.h"
#include "http/syntax.h"

namespace rf::http {
namespace {

using Kind = ParseResult::Kind;
using namespace syntax;  // NOLINT: the parser is written in the grammar's vocabulary

// request-target: visible ASCII plus obs-text; no CTL, SP or DEL.
constexpr auto kTargetChar = MakeTable([](unsigned c) { return c > 0x20 && c != 0x7f; });

// The first byte in [p, end) that ends a request-target (kTarget: CTL, SP, DEL) or a field value
// (CTL other than HT, DEL); `end` if none. Targets and values are the bulk of a head, so this
// checks 16 bytes at a time and doubles as the search for the CR that ends a line.
template <bool kTarget>
const char* FindDelimiter(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i ctl_max = _mm_set1_epi8(kTarget ? 0x20 : 0x1f);
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i tab = _mm_set1_epi8('\t');
  for (; end - p >= 16; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, ctl_max), x), _mm_cmpeq_epi8(x, del));
    if (!kTarget) hit = _mm_andnot_si128(_mm_cmpeq_epi8(x, tab), hit);
    if (const int mask = _mm_movemask_epi8(hit); mask != 0) return p + __builtin_ctz(mask);
  }
#endif
  const auto& table = kTarget ? kTargetChar : kValueChar;
  while (p < end && Is(table, *p)) ++p;
  return p;
}


ParseResult Fail(int status, std::string_view message) {
  ParseResult r;
  r.kind = Kind::kError;
  r.status = status;
  r.message = message;
  return r;
}

ParseResult Done() {
  ParseResult r;
  r.kind = Kind::kComplete;
  return r;
}

// p + n, or end if that lies beyond it (never forms a pointer past the buffer).
const char* Clamp(const char* p, const char* end, size_t n) {
  return static_cast<size_t>(end - p) < n ? end : p + n;
}

const char* FindLf(const char* p, const char* end) {
  return static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
}

// Indexed by Method; the order of the enum.
constexpr std::array<std::string_view, kMethodCount> kMethodNames = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

Method ToMethod(std::string_view m) {
  for (size_t i = 0; i < kMethodCount; ++i) {
    if (m == kMethodNames[i]) return static_cast<Method>(i);
  }
  return Method::kOther;
}

bool IsLineEnd(char c) { return c == '\r' || c == '\n'; }

// Splits out.target into path and query (see the header for the accepted forms).
std::string_view SplitTarget(Request& out) {
  std::string_view path = out.target;
  if (path == "*") {
    if (out.method != Method::kOptions) return "'*' target is only valid for OPTIONS";
    out.path = path;
    out.query = {};
    return {};
  }
  if (path.front() != '/') {
    // absolute-form: keep only the path; the authority is not used for routing.
    size_t scheme = 0;
    if (path.size() > 7 && IEquals(path.substr(0, 7), "http://")) scheme = 7;
    if (path.size() > 8 && IEquals(path.substr(0, 8), "https://")) scheme = 8;
    if (scheme == 0) return "invalid request target";
    const size_t slash = path.find_first_of("/?#", scheme);
    if (slash == std::string_view::npos || slash == scheme || path[slash] != '/') {
      return "invalid request target";
    }
    path.remove_prefix(slash);
  }
  const size_t q = path.find('?');
  out.path = path.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view() : path.substr(q + 1);
  return {};
}

// request-line = method SP request-target SP HTTP-version CRLF, which must end before `limit`.
// Returns kComplete with p past the CRLF, kIncomplete if `limit` came first, or kError. Like every
// check here, it fails early only on bytes that no valid request could continue with.
ParseResult ParseRequestLine(const char*& p, const char* limit, Request& out) {
  const char* q = p;
  while (q < limit && Is(kTokenChar, *q)) ++q;
  if (q == limit) return {};
  if (IsLineEnd(*q)) return Fail(400, "malformed request line");
  if (q == p || *q != ' ') return Fail(400, "invalid method");
  out.method_str = std::string_view(p, static_cast<size_t>(q - p));
  out.method = ToMethod(out.method_str);

  const char* const target = ++q;
  q = FindDelimiter<true>(q, limit);
  if (q == limit) return {};
  if (IsLineEnd(*q)) return Fail(400, "malformed request line");
  if (*q != ' ') return Fail(400, "invalid character in request target");
  if (q == target) return Fail(400, "empty request target");
  out.target = std::string_view(target, static_cast<size_t>(q - target));

  const char* const version = ++q;
  const char* const lf = FindLf(version, limit);
  if (lf == nullptr) return {};
  if (lf[-1] != '\r') return Fail(400, "bare LF line ending");
  const std::string_view v(version, static_cast<size_t>(lf - 1 - version));
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
      v[7] < '0' || v[7] > '9') {
    return Fail(400, "invalid HTTP version");
  }
  if (v[5] != '1' || v[7] > '1') return Fail(505, "HTTP version not supported");
  out.version_minor = v[7] - '0';
  if (auto err = SplitTarget(out); !err.empty()) return Fail(400, err);
  p = lf + 1;
  return Done();
}

// Scans the field lines of a header or trailer section at p through the empty line that ends it,
// which must lie before `limit`, calling on_field(const Header&) -> ParseResult (a failed one
// stops the scan). Returns kComplete with p past the section, kIncomplete if `limit` came first,
// or kError. One forward pass: token scan for the name, FindDelimiter for the value and its CR.
template <class OnField>
ParseResult ScanFieldSection(const char*& p, const char* limit, OnField on_field) {
  for (;;) {
    if (p == limit) return {};
    if (*p == '\r') {
      if (p + 1 == limit) return {};
      if (p[1] != '\n') return Fail(400, "CR without LF");
      p += 2;
      return Done();
    }
    if (*p == '\n') return Fail(400, "bare LF line ending");
    if (IsOws(*p)) return Fail(400, "obs-fold or whitespace before field name");
    const char* q = p;
    while (q < limit && Is(kTokenChar, *q)) ++q;
    if (q == limit) return {};
    if (*q != ':') {
      if (IsLineEnd(*q)) return Fail(400, "header line without ':'");
      while (q < limit && IsOws(*q)) ++q;
      if (q == limit) return {};
      return Fail(400,
                  *q == ':' ? "whitespace between header name and ':'" : "invalid header name");
    }
    if (q == p) return Fail(400, "empty header name");
    Header h;
    h.name = std::string_view(p, static_cast<size_t>(q - p));
    ++q;
    while (q < limit && IsOws(*q)) ++q;
    const char* const value = q;
    const char* cr = FindDelimiter<false>(q, limit);
    if (cr == limit) return {};
    if (*cr == '\n') return Fail(400, "bare LF line ending");
    if (*cr != '\r') return Fail(400, "invalid character in header value");
    if (cr + 1 == limit) return {};
    if (cr[1] != '\n') return Fail(400, "invalid character in header value");
    p = cr + 2;
    while (cr > value && IsOws(cr[-1])) --cr;
    h.value = std::string_view(value, static_cast<size_t>(cr - value));
    if (ParseResult r = on_field(h); r.kind == Kind::kError) return r;
  }
}

// Content-Length: 1*DIGIT that fits in 64 bits; anything else (sign, list, empty) is invalid.
bool ParseContentLength(std::string_view v, uint64_t& out) {
  const char* const last = v.data() + v.size();
  const auto [ptr, ec] = std::from_chars(v.data(), last, out);
  return ec == std::errc() && ptr == last;
}

void ScanConnection(std::string_view v, bool& close, bool& keep_alive) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view token = TrimOws(v.substr(0, comma));
    if (IEquals(token, "close")) close = true;
    if (IEquals(token, "keep-alive")) keep_alive = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string_view MethodName(Method m) {
  const auto i = static_cast<size_t>(m);
  return i < kMethodCount ? kMethodNames[i] : std::string_view();
}

Method MethodFromName(std::string_view name) { return ToMethod(name); }

std::string_view Request::Header(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i) {
    if (IEquals(headers[i].name, name)) return headers[i].value;
  }
  return {};
}

// The head at the start of buf: kIncomplete with head_done (and length_ set) once it is whole.
ParseResult H1Parser::ParseHead(std::span<char> buf, Request& out) {
  const char* const begin = buf.data();
  const char* const end = begin + buf.size();
  // The head must end within max_head bytes, so nothing past that is ever scanned for it.
  const char* const limit = Clamp(begin, end, limits_.max_head);
  const bool over = buf.size() > limits_.max_head;
  const auto need_more = [over] {
    return over ? Fail(431, "request head too large") : ParseResult{};
  };

  const char* p = begin;
  for (size_t empty_lines = 0;; ++empty_lines) {
    if (p == limit) return need_more();
    if (*p == '\n') return Fail(400, "bare LF line ending");
    if (*p != '\r') break;
    if (p + 1 == limit) return need_more();
    if (p[1] != '\n') return Fail(400, "CR without LF");
    if (empty_lines == kMaxLeadingEmptyLines) return Fail(400, "too many empty lines");
    p += 2;
  }

  if (ParseResult r = ParseRequestLine(p, limit, out); r.kind != Kind::kComplete) {
    return r.kind == Kind::kError ? r : need_more();
  }

  out.header_count = 0;
  size_t host_count = 0;
  size_t te_count = 0;
  bool has_length = false;
  uint64_t length = 0;
  bool te_chunked = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool expect_continue = false;
  const ParseResult section = ScanFieldSection(p, limit, [&](const http::Header& h) {
    if (out.header_count == kMaxHeaders) return Fail(431, "too many headers");
    out.headers[out.header_count++] = h;
    switch (h.name.size()) {  // cheap pre-filter before the case-insensitive compares
      case 4:
        if (IEquals(h.name, "host") && ++host_count > 1) return Fail(400, "multiple Host headers");
        break;
      case 6:
        if (IEquals(h.name, "expect") && IEquals(h.value, "100-continue")) expect_continue = true;
        break;
      case 10:
        if (IEquals(h.name, "connection")) ScanConnection(h.value, conn_close, conn_keep_alive);
        break;
      case 14:
        if (IEquals(h.name, "content-length")) {
          uint64_t n = 0;
          if (!ParseContentLength(h.value, n)) return Fail(400, "invalid Content-Length");
          if (has_length && n != length) return Fail(400, "conflicting Content-Length headers");
          has_length = true;
          length = n;
        }
        break;
      case 17:
        if (IEquals(h.name, "transfer-encoding")) {
          ++te_count;
          te_chunked = IEquals(h.value, "chunked");
        }
        break;
      default:
        break;
    }
    return ParseResult{};
  });
  if (section.kind == Kind::kError) return section;
  if (section.kind == Kind::kIncomplete) return need_more();

  const size_t head_size = static_cast<size_t>(p - begin);
  if (out.version_minor == 1 && host_count == 0) return Fail(400, "missing Host header");
  if (te_count > 0) {
    if (has_length) return Fail(400, "both Content-Length and Transfer-Encoding");
    if (out.version_minor == 0) return Fail(400, "Transfer-Encoding in HTTP/1.0 request");
    if (te_count > 1 || !te_chunked) return Fail(501, "unsupported Transfer-Encoding");
  }
  if (has_length && length > limits_.max_body) return Fail(413, "body too large");

  out.keep_alive = out.version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
  out.expect_continue = expect_continue && out.version_minor == 1;
  out.chunked = te_count > 0;
  out.body = {};

  length_ = length;
  ParseResult r;
  r.head_done = true;
  r.head_size = head_size;
  r.expect_continue = out.expect_continue;
  return r;
}

void H1Parser::Reset() {
  head_size_ = 0;
  base_ = nullptr;
  length_ = 0;
  chunk_ = {};
}

ParseResult H1Parser::Parse(std::span<char> buf, Request& out) {
  if (head_size_ == 0 || buf.data() != base_) {
    const bool resumed = head_size_ != 0;
    ParseResult h = ParseHead(buf, out);
    // A complete head was scanned up to its end; otherwise up to max_head at most.
    stats_.bytes_examined += h.head_done ? h.head_size : std::min(buf.size(), limits_.max_head);
    if (!h.head_done) {
      if (h.kind == Kind::kError) Reset();
      return h;
    }
    RF_CHECK(!resumed || h.head_size == head_size_);  // the same bytes, moved
    if (!resumed) chunk_ = {};
    head_size_ = h.head_size;
    base_ = buf.data();
  }

  ParseResult r;
  r.head_done = true;
  r.head_size = head_size_;
  r.expect_continue = out.expect_continue;
  char* const body = buf.data() + head_size_;
  const size_t available = buf.size() - head_size_;
  if (out.chunked) {
    ParseResult c = ScanChunked(body, available);
    if (c.kind == Kind::kError) {
      Reset();
      return c;
    }
    if (c.kind == Kind::kIncomplete) return r;
    CompactChunks(body, chunk_.pos);
    out.body = {body, chunk_.data};
    r.consumed = head_size_ + chunk_.pos;
  } else {
    if (available < length_) return r;
    out.body = {body, static_cast<size_t>(length_)};
    r.consumed = head_size_ + static_cast<size_t>(length_);
  }
  r.kind = Kind::kComplete;
  Reset();
  return r;
}

// chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1). Resumes at chunk_.pos:
// each chunk-size line and each chunk's closing CRLF is checked once; chunk data is skipped, not
// read, until the compaction. Only a partial size line or trailer section is scanned again.
ParseResult H1Parser::ScanChunked(const char* body, size_t available) {
  using Phase = ChunkScan::Phase;
  const char* const end = body + available;
  // Data counts against max_body; framing may add as much again (8-byte chunks are
  // legal), but no more, so tiny-chunk floods stay bounded.
  const size_t wire_limit = 2 * limits_.max_body + limits_.max_head;
  const auto need_more = [&] {
    return available > wire_limit ? Fail(413, "chunked framing overhead too large") : ParseResult{};
  };
  for (;;) {
    if (chunk_.pos > wire_limit) return Fail(413, "chunked framing overhead too large");
    const char* p = body + chunk_.pos;
    switch (chunk_.phase) {
      case Phase::kSizeLine: {
        // chunk-size [ chunk-ext ] CRLF; leading zeros are legal, so count significant digits.
        const char* const line = p;
        const char* const line_limit = Clamp(line, end, kMaxChunkLine + 2);
        const char* const lf = FindLf(line, line_limit);
        stats_.bytes_examined += static_cast<size_t>((lf ? lf + 1 : line_limit) - line);
        uint64_t size = 0;
        int significant = 0;
        for (int d; p < line_limit && (d = HexValue(*p)) >= 0; ++p) {
          size = (size << 4) | static_cast<uint64_t>(d);
          if (size != 0 && ++significant > 16) return Fail(400, "chunk size overflow");
        }
        if (p == line) return p == end ? need_more() : Fail(400, "invalid chunk size");
        if (p == end) return need_more();
        if (size > limits_.max_body - chunk_.data) return Fail(413, "body too large");
        if (lf == nullptr) {
          return line_limit == end ? need_more() : Fail(400, "chunk size line too long");
        }
        if (lf[-1] != '\r') return Fail(400, "bare LF in chunk size line");
        const char* ext = p;
        while (ext < lf - 1 && IsOws(*ext)) ++ext;
        if (ext < lf - 1) {
          if (*ext != ';') return Fail(400, "invalid chunk size line");
          if (FindDelimiter<false>(ext, lf - 1) != lf - 1) {
            return Fail(400, "invalid character in chunk extension");
          }
        }
        chunk_.pos = static_cast<size_t>(lf + 1 - body);
        chunk_.chunk = size;
        chunk_.phase = size == 0 ? Phase::kTrailers : Phase::kData;
        break;
      }
      case Phase::kData: {
        const auto left = static_cast<size_t>(end - p);
        const auto n = static_cast<size_t>(chunk_.chunk);
        if (left > n && p[n] != '\r') return Fail(400, "missing CRLF after chunk data");
        if (left > n + 1 && p[n + 1] != '\n') return Fail(400, "missing CRLF after chunk data");
        if (left < n + 2) return need_more();
        stats_.bytes_examined += n + 2;
        chunk_.data += n;
        chunk_.pos += n + 2;
        chunk_.phase = Phase::kSizeLine;
        break;
      }
      case Phase::kTrailers: {
        // trailer-section: field lines, bounded by max_head; validated, then ignored.
        const char* const trailers = p;
        const char* const limit = Clamp(trailers, end, limits_.max_head);
        const ParseResult section =
            ScanFieldSection(p, limit, [](const Header&) { return ParseResult{}; });
        stats_.bytes_examined +=
            static_cast<size_t>((section.kind == Kind::kComplete ? p : limit) - trailers);
        if (section.kind == Kind::kError) return section;
        if (section.kind == Kind::kIncomplete) {
          if (static_cast<size_t>(end - trailers) > limits_.max_head) {
            return Fail(431, "trailer section too large");
          }
          return need_more();
        }
        if (static_cast<size_t>(p - body) > wire_limit) return Fail(413, "chunked body too large");
        chunk_.pos = static_cast<size_t>(p - body);
        return Done();
      }
    }
  }
}

void H1Parser::CompactChunks(char* body, size_t wire_size) {
  stats_.bytes_examined += wire_size;
  const char* p = body;
  char* w = body;  // writes stay behind the read position
  for (;;) {
    uint64_t size = 0;
    for (int d; (d = HexValue(*p)) >= 0; ++p) size = (size << 4) | static_cast<uint64_t>(d);
    p = FindLf(p, body + wire_size) + 1;
    if (size == 0) return;
    const auto n = static_cast<size_t>(size);
    std::memmove(w, p, n);
    w += n;
    p += n + 2;
  }
}

}  // namespace rf::http

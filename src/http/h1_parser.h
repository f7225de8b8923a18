#pragma once
// H1Parser: a pure HTTP/1.1 request parser (RFC 9112). It takes the bytes buffered on a
// connection and reports one of: the message is incomplete, complete (with its wire size), or
// malformed (with the HTTP status to answer before closing). No I/O, no heap allocation.
//
// Incremental: a parser remembers its progress through the message in flight, so a message that
// arrives in many reads costs time linear in its bytes. Once the head is complete it is not
// scanned again, and a chunked body is validated from where the previous call stopped; only a
// partial chunk-size line (at most kMaxChunkLine bytes) or a partial trailer section (at most
// max_head) is looked at again. An incomplete head is re-scanned on each call (bounded by
// max_head). Each connection owns one parser; it belongs to that connection's shard.
//
// Strictness (prevents request smuggling; every violation is a kError, the connection must close):
//  - CRLF line endings only; obs-fold, whitespace before ':', NUL/CR/CTL in values are rejected.
//  - Exactly one Host on HTTP/1.1; Content-Length must be plain digits; duplicate Content-Length
//    headers must be identical; Content-Length together with Transfer-Encoding is rejected;
//    Transfer-Encoding must be exactly "chunked" (else 501) and is rejected on HTTP/1.0 (400).
//  - request-target: origin-form ("/..."), "*" for OPTIONS only, or absolute-form
//    "http[s]://authority/path" whose path (from the first '/' after the authority) becomes
//    `path`; absolute-form without a path is rejected. Bytes >= 0x80 are accepted in the target
//    (raw UTF-8 from lax clients); CTLs, SP and DEL are not.
//  - Up to kMaxLeadingEmptyLines CRLFs before the request line are skipped (RFC 9112 §2.2); they
//    count in head_size and consumed.
//  - The authority of an absolute-form target is not compared with Host (Host is still required
//    on HTTP/1.1). Chunk extensions are ignored; trailer fields are validated, then dropped.
//    "Expect: 100-continue" is honored on HTTP/1.1 only (RFC 9110 §10.1.1); other expectations
//    are ignored.
//
// Bounds: the head (leading CRLFs + request line + headers + final CRLF) is at most max_head
// bytes (else 431); a body at most max_body bytes (else 413). A chunked body's wire form (chunk
// lines, data, CRLFs, trailers) is at most 2 * max_body + max_head bytes (else 413), its trailer
// section at most max_head bytes (else 431), each chunk-size line at most kMaxChunkLine bytes
// (else 400). So `consumed` never exceeds MaxMessageBytes(), and once more than that is buffered
// Parse returns kComplete or kError: a connection needs no larger buffer.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace rf::http {

enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kOther };
constexpr size_t kMethodCount = 7;  // methods other than kOther, usable as array indexes

// "GET", "HEAD", ...; "" for kOther (use Request::method_str for the name as sent).
std::string_view MethodName(Method m);
// The Method of a name as sent ("GET" -> kGet); kOther for any other (HTTP/2's :method).
Method MethodFromName(std::string_view name);

struct Header {
  std::string_view name;
  std::string_view value;  // trimmed of OWS (SP/HT) on both sides
};

constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxLeadingEmptyLines = 8;
constexpr size_t kMaxChunkLine = 1024;  // chunk-size line including extensions, without CRLF

struct Limits {
  size_t max_head = 16 * 1024;
  size_t max_body = 1 << 20;
};

struct Request {
  Method method = Method::kOther;
  std::string_view method_str;  // as sent
  std::string_view target;      // raw request-target
  std::string_view path;        // target up to '?' (not percent-decoded); see absolute-form above
  std::string_view query;       // after '?', without it; empty if none
  int version_minor = 1;        // 0 or 1 (HTTP/1.0 or HTTP/1.1)
  std::array<::rf::http::Header, kMaxHeaders> headers{};
  size_t header_count = 0;
  bool keep_alive = true;        // 1.1: unless "Connection: close"; 1.0: only with "keep-alive"
  bool expect_continue = false;  // "Expect: 100-continue" on HTTP/1.1
  bool chunked = false;
  std::string_view body;  // the whole body, de-chunked and contiguous

  // Case-insensitive lookup; the first match, or empty if absent.
  std::string_view Header(std::string_view name) const;
};

struct ParseResult {
  enum class Kind : uint8_t { kIncomplete, kComplete, kError };
  Kind kind = Kind::kIncomplete;
  size_t consumed = 0;           // kComplete: wire bytes of this message (head + body as sent)
  int status = 0;                // kError: HTTP status to answer with
  std::string_view message;      // kError: static human-readable reason, e.g. "invalid header name"
  bool head_done = false;        // the head is complete and valid (kIncomplete: waiting for body)
  bool expect_continue = false;  // kIncomplete with head_done: client waits for "100 Continue"
  size_t head_size = 0;          // with head_done: wire bytes of the head
};

// Work done by one parser over its life, so tests can check that parsing stays linear.
struct ParserStats {
  // Buffered bytes scanned or copied: head bytes, chunk-size lines, chunk data (validated once,
  // moved once when the body is compacted), trailers. Content-Length bodies are not scanned.
  uint64_t bytes_examined = 0;
};

class H1Parser {
 public:
  explicit H1Parser(Limits limits = {}) : limits_(limits) {}

  // Parses one message at the start of buf.
  //  - kComplete: every string_view in `out` points into buf; a chunked body has been compacted
  //    in place (the only case in which buf is written), so bytes of buf inside the message after
  //    `out.body` are garbage. The next message starts at buf[consumed]; the parser is ready
  //    for it.
  //  - kIncomplete with head_done: `out` holds the head (body empty); buf is untouched. The caller
  //    may route, answer early, or send "100 Continue" before the body arrives.
  //  - kIncomplete otherwise / kError: `out` is unspecified; buf is untouched. After kError the
  //    parser is ready for a new message.
  // After kIncomplete, call again with the same `out` and a buf that holds the same message with
  // more bytes appended. The bytes may have moved (a grown or compacted buffer): the head is then
  // parsed again so `out` points into the new place; body progress is kept by offset.
  // A prefix of a valid message is always kIncomplete: errors come only from bytes that no valid
  // message could continue with, or from an exceeded bound, as soon as they are buffered.
  ParseResult Parse(std::span<char> buf, Request& out);

  // Forgets the message in progress (the next Parse starts a new message).
  void Reset();

  // Upper bound of `consumed` for any message (see "Bounds" above).
  size_t MaxMessageBytes() const { return 2 * limits_.max_head + 2 * limits_.max_body; }

  const Limits& limits() const { return limits_; }
  const ParserStats& stats() const { return stats_; }

 private:
  // Progress through a chunked body, as offsets from its first byte.
  struct ChunkScan {
    enum class Phase : uint8_t { kSizeLine, kData, kTrailers };
    Phase phase = Phase::kSizeLine;
    size_t pos = 0;      // first byte not yet validated: a size line, chunk data, or trailers
    size_t data = 0;     // data bytes of the chunks validated so far
    uint64_t chunk = 0;  // kData: size of the chunk whose data starts at pos
  };

  ParseResult ParseHead(std::span<char> buf, Request& out);
  // Validates the chunked body at [body, body + available) from chunk_.pos on; kComplete once the
  // whole body, trailers included, is there (chunk_.pos is then its wire size).
  ParseResult ScanChunked(const char* body, size_t available);
  // Moves the data of a validated chunked body of wire_size bytes down to `body`.
  void CompactChunks(char* body, size_t wire_size);

  Limits limits_;
  ParserStats stats_;
  // The message in progress: its head (0 until complete), where buf started when the head was
  // parsed, its Content-Length, and how far its chunked body has been validated.
  size_t head_size_ = 0;
  const char* base_ = nullptr;
  uint64_t length_ = 0;
  ChunkScan chunk_;
};

}  // namespace rf::http

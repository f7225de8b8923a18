#pragma once
// ResponseParser: a pure, incremental HTTP/1.1 response parser (RFC 9112) for the outbound
// client. Feed it bytes as they arrive, in pieces of any size; it keeps its own state (a partial
// line is copied aside, body bytes are appended to the Response), so the caller never re-buffers.
// No I/O; one instance per exchange, on one thread.
//
// Accepted: status line "HTTP/1.0|1.1 SP 3DIGIT [SP reason]" (status 100..599; the SP before an
// empty reason may be missing, as many servers send "HTTP/1.1 200\r\n"); header fields; bodies
// framed by Content-Length, by "Transfer-Encoding: chunked" (extensions ignored, trailer fields
// validated and dropped), or by the connection closing. Interim 1xx responses are skipped (at
// most kMaxInterimResponses). A response to HEAD, and any 204 or 304, has no body whatever its
// headers say (RFC 9112 §6.3).
//
// Strict, like the server's parser: anything else is an error and the connection must be closed.
//  - kIo: CRLF line endings only (no bare LF, no CR inside a line), no obs-fold or whitespace
//    before ':', header names are tokens, values have no CTL but HTAB; Content-Length is plain
//    digits and duplicates must agree; Content-Length together with Transfer-Encoding, any coding
//    other than a single "chunked", or Transfer-Encoding on HTTP/1.0; "101 Switching Protocols"
//    (never asked for); a malformed chunk line or missing CRLF after chunk data; a connection that
//    closes before a length-delimited body is complete.
//  - kTooLarge: a head (status line + fields) over max_head bytes, more than kMaxResponseHeaders
//    fields, a trailer section over max_head, a body over max_body (a declared Content-Length is
//    rejected before any body byte is read).
// A prefix of a valid response is never an error: errors come from bytes that no valid response
// could continue with, or from an exceeded bound.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace rf::http::client {

constexpr size_t kMaxResponseHeaders = 100;
constexpr size_t kMaxInterimResponses = 16;
constexpr size_t kMaxChunkLineBytes = 1024;  // chunk-size line with extensions, without CRLF

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, values OWS-trimmed
  std::string body;                                          // de-chunked

  // Case-insensitive; the first match, or empty if absent.
  std::string_view Header(std::string_view name) const;
};

struct ResponseLimits {
  size_t max_head = 64 * 1024;
  size_t max_body = 8 << 20;
};

class ResponseParser {
 public:
  explicit ResponseParser(ResponseLimits limits = {}) : limits_(limits) {}

  // Starts a new response. `head_request`: the request was HEAD, so no body follows.
  void Reset(bool head_request = false);

  // Consumes bytes from the front of `in`: all of them, unless the response completes first (then
  // the rest belongs to nothing: a server must not send unsolicited bytes). Returns the count.
  // After an error, returns that error again.
  Result<size_t> Feed(std::string_view in);

  // The peer closed the connection: completes a close-delimited body; anything else incomplete
  // is kIo.
  Status FinishAtEof();

  bool complete() const { return state_ == State::kDone; }
  // Once complete: whether the connection may carry another request (HTTP/1.1 without
  // "Connection: close", HTTP/1.0 with "Connection: keep-alive"; never a close-delimited body).
  bool keep_alive() const { return keep_alive_; }
  // Whether a close-delimited body is being read (only EOF ends it).
  bool reading_until_close() const { return state_ == State::kUntilClose; }

  const Response& response() const { return response_; }
  Response TakeResponse() { return std::move(response_); }
  // Moves out the body bytes parsed so far, for an answer read as it arrives (the CLI's
  // `runs watch` reads an event stream this way); max_body then bounds what is not taken yet.
  std::string TakeBody() { return std::exchange(response_.body, {}); }
  const ResponseLimits& limits() const { return limits_; }

 private:
  enum class State : uint8_t {
    kStatusLine,
    kHeaders,
    kFixedBody,
    kChunkSize,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kTrailers,
    kUntilClose,
    kDone,
    kFailed,
  };
  enum class LineStatus : uint8_t { kLine, kNeedMore, kTooLong, kBareLf };

  LineStatus TakeLine(std::string_view& in, size_t budget, std::string_view& line);
  Status OnStatusLine(std::string_view line);
  Status OnHeaderLine(std::string_view line);
  Status OnHeadEnd();
  Status OnChunkSizeLine(std::string_view line);
  Status OnTrailerLine(std::string_view line);
  Status AppendBody(std::string_view& in, size_t n);
  Status Fail(Errc code, const char* message);
  Status Step(std::string_view& in);

  ResponseLimits limits_;
  State state_ = State::kStatusLine;
  bool head_request_ = false;
  bool keep_alive_ = false;
  Error error_;

  // Partial line carried between Feed calls; `line_taken_` marks a line handed out last time.
  std::string line_;
  bool line_taken_ = false;

  // The head being parsed.
  size_t head_bytes_ = 0;
  size_t interim_count_ = 0;
  int version_minor_ = 1;
  bool has_length_ = false;
  uint64_t length_ = 0;
  size_t te_count_ = 0;
  bool te_chunked_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;

  uint64_t remaining_ = 0;  // kFixedBody / kChunkData: bytes still to come
  size_t trailer_bytes_ = 0;

  Response response_;
};

}  // namespace rf::http::client

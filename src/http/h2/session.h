#pragma once
// h2::Session: one HTTP/2 connection's protocol state over nghttp2's memory API (mem_recv /
// mem_send): no I/O here. The connection loop (http/h2_connection.cc) feeds it the bytes it
// reads and sends what Produce() appends. Requests are assembled per stream into the same
// `Request` the HTTP/1.1 parser fills and routed through the same router, so every handler
// serves both protocols; responses leave as HEADERS + DATA frames pulled by nghttp2 (a data
// provider per stream, deferred while a streamed body has nothing to send), so each stream is
// flow-controlled on its own and a stream whose peer stops granting window never holds up the
// others.
//
// Limits and abuse (each answered per stream with RST_STREAM or per connection with GOAWAY):
//  - SETTINGS_MAX_CONCURRENT_STREAMS = max_streams; a new stream beyond it is refused by nghttp2
//    (RST_STREAM REFUSED_STREAM). Async handlers still running for streams the peer already
//    reset count too: above 2 * max_streams new streams are refused (the rapid-reset cost).
//  - header list: SETTINGS_MAX_HEADER_LIST_SIZE = limits.max_head; a larger list, or more than
//    kMaxHeaders fields, is answered 431; a body above limits.max_body is answered 413 at once.
//  - rapid reset (CVE-2023-44487): nghttp2's RST_STREAM token bucket (kResetBurst, kResetRate/s),
//    then GOAWAY; CONTINUATION floods: at most kMaxContinuations per header block, then GOAWAY;
//    PING/SETTINGS floods: at most kMaxOutboundAck unsent acks (a peer that sends but does not
//    read), then the session fails; at most kMaxSettings entries per SETTINGS frame.
//  - stalls: Tick() resets a stream whose response made no progress (zero window) for
//    stall_timeout, and one whose request is not complete after request_timeout.

#include <nghttp2/nghttp2.h>

#include <array>
#include <coroutine>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/buffer.h"
#include "base/clock.h"
#include "http/handler.h"
#include "http/server.h"
#include "http/stats.h"

namespace rf::http::h2 {

constexpr size_t kMaxContinuations = 8;
constexpr size_t kMaxOutboundAck = 1000;
constexpr size_t kMaxSettings = 32;
constexpr uint64_t kResetBurst = 200;
constexpr uint64_t kResetRate = 50;  // per second
// The client connection preface (RFC 9113 §3.4).
constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct SessionOptions {
  const Router<Endpoint>* router = nullptr;
  const std::vector<std::string>* route_names = nullptr;  // labels 405s in the metrics
  Limits limits;
  uint32_t max_streams = 100;
  Nanos stall_timeout = 60 * kSeconds;
  Nanos request_timeout = 30 * kSeconds;
  bool access_log = false;
  // The server's checks before every handler (AdmitRequest: Host, admission, JSON mutations);
  // null: none (the fuzz target).
  const ServerOptions* server = nullptr;
  unsigned shard = 0;
};

class Session;

// A stream's request: its header table and the nghttp2 buffers the views point into (~5 KiB).
// Held apart from the stream, so that a long-lived stream whose handler is done with its request
// (Stream::ReleaseRequest: an event stream once its head is out) gives it back.
struct H2Request {
  Request req{};
  // Header names and values stay in nghttp2's reference-counted buffers while the request lives.
  std::array<nghttp2_rcbuf*, 2 * kMaxHeaders + 8> rcbufs{};
  size_t rcbuf_count = 0;
};

// One request/response exchange. Pooled per session: its buffers are reused by later streams.
struct H2Stream {
  explicit H2Stream(Session* s) : session(s) {}
  Session* session;
  int32_t id = 0;
  H2Request* rq = nullptr;  // null once released (ReleaseRequest)
  Router<Endpoint>::Match match;
  Identity who;  // of this request (AdmitRequest)
  Buffer req_body;
  Buffer body;          // the response body not yet handed to nghttp2
  // A streamed Send's parts, not yet handed to nghttp2: views into bytes the handler keeps alive
  // until its Send returns (shared event chunks), copied straight into DATA frames by ReadBody.
  // No per-stream copy of a backlog: a stream behind by a megabyte holds references, not bytes.
  std::span<const std::string_view> parts;
  size_t part = 0;      // the first part not fully taken
  size_t part_off = 0;  // bytes of parts[part] already taken
  std::string headers;  // the response's extra "Name: value\r\n" lines
  Response resp{body, headers};
  std::string owned;  // an upgraded HTTP/1.1 request's head and body, copied
  std::string_view authority;
  size_t header_bytes = 0;
  int error_status = 0;  // 431 / 413 / 400 found while receiving: answered at dispatch
  uint16_t route_id = 0;
  Nanos opened = 0;
  Nanos t0 = 0;
  Nanos last_progress = 0;
  bool dispatched = false;
  bool responding = false;      // a response was submitted
  bool eof = false;             // no more body after `body`
  bool closed = false;          // nghttp2 closed the stream
  bool handler_running = false;  // an async handler holds this stream
  bool head_only = false;
  bool remote_done = false;   // the request ended (END_STREAM received)
  bool waiting_data = false;  // the data provider is deferred until the body grows
  bool nghttp2_gone = false;  // nghttp2 forgot the stream (closed or reset)
  Stream* api = nullptr;  // the handler-facing stream while an async handler runs
  std::coroutine_handle<> send_waiter;
  H2Stream* prev = nullptr;  // live list
  H2Stream* next = nullptr;

  // Response bytes not yet with nghttp2 (body, then parts).
  bool HasOutput() const { return !body.empty() || part < parts.size(); }
  void DropParts() {
    parts = {};
    part = part_off = 0;
  }
};

// Suspends a handler's Send until nghttp2 has taken the stream's pending body and parts (or the
// stream ended: reset, aborted, connection gone).
struct BodyTaken {
  H2Stream* s;
  bool await_ready() const noexcept { return !s->HasOutput() || s->closed; }
  void await_suspend(std::coroutine_handle<> h) noexcept { s->send_waiter = h; }
  void await_resume() const noexcept {}
};

// Decodes an HTTP2-Settings header (base64url, no padding) into a SETTINGS payload. False: not
// base64url, or not a whole number of 6-byte settings.
bool DecodeSettingsHeader(std::string_view b64, std::string& out);

// What the session needs from the connection that carries it.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // Runs ep's async handler for s; it calls Session::FinishAsync(s) when it returns.
  virtual void StartAsync(H2Stream* s, const Endpoint* ep) = 0;
  // Resumes h soon (never inline: callers are inside nghttp2 callbacks).
  virtual void Resume(std::coroutine_handle<> h) = 0;
  // There is output to produce (frames queued or a deferred body resumed).
  virtual void WakeWriter() = 0;
  // s->api is set: fail its Send and stop its handler (Stream::Abort).
  virtual void AbortHandler(H2Stream* s) = 0;
};

class Session {
 public:
  Session(SessionOptions opt, HttpStats* stats, SessionHost* host);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // `Upgrade: h2c`: settings is the decoded HTTP2-Settings payload; req (HTTP/1.1, fully
  // received) becomes stream 1. False: nghttp2 refused the settings; a GOAWAY is queued.
  bool Upgrade(std::string_view settings, const Request& req, bool head);
  // Bytes from the peer. False: the session is broken (protocol error, flood); a GOAWAY is queued
  // when the protocol allows one, so Produce() and send what it gives before closing.
  bool Receive(std::string_view in);
  // Appends frames to out until it holds at least `limit` bytes or nothing is pending.
  // False: nghttp2 failed; close the connection.
  bool Produce(Buffer& out, size_t limit);
  // Neither side has anything more to say (GOAWAY exchanged and no stream open): close.
  bool Done() const;
  bool HasOpenStreams() const { return live_ != nullptr; }

  // Graceful end (drain, idle timeout): GOAWAY, abort streamed responses, finish the rest.
  void Shutdown();
  // The connection is gone: fail every pending Send and stop streamed responses.
  void AbortAll();
  // Resets stalled streams; see the header comment.
  void Tick(Nanos now);

  // For handler.h's Stream over HTTP/2.
  void StartStream(H2Stream* s);         // head of a streamed response (no content-length)
  void PushBody(H2Stream* s);            // s->body grew: let nghttp2 send it
  void AbortStream(H2Stream* s);         // RST_STREAM(CANCEL) if still open
  void FinishAsync(H2Stream* s, bool streamed, bool aborted);  // the async handler returned
  // The handler reads s's request no more (its response is streaming): the request's memory goes
  // back, unless the audit still has to record it.
  void ReleaseRequest(H2Stream* s);

  unsigned streams_started() const { return streams_started_; }

 private:
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnHeader(nghttp2_session*, const nghttp2_frame*, nghttp2_rcbuf*, nghttp2_rcbuf*,
                      uint8_t, void*);
  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnStreamClose(nghttp2_session*, int32_t, uint32_t, void*);
  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                          nghttp2_data_source*, void*);

  H2Stream* Acquire();
  void Release(H2Stream* s);
  void DropRequest(H2Stream* s, size_t keep);
  void Dispatch(H2Stream* s);
  void SubmitResponse(H2Stream* s, bool with_length);
  void Record(H2Stream* s);
  void Fail(uint32_t error_code);

  SessionOptions opt_;
  HttpStats* stats_;
  SessionHost* host_;
  nghttp2_session* ng_ = nullptr;
  H2Stream* live_ = nullptr;            // streams with a request or a handler
  std::vector<H2Stream*> free_;         // pooled, at most max_streams kept
  std::vector<H2Request*> free_requests_;  // pooled likewise (fewer from ReleaseRequest)
  size_t handlers_running_ = 0;
  unsigned streams_started_ = 0;
  bool shut_down_ = false;
  std::vector<nghttp2_nv> nv_;  // scratch for submitting headers
  std::string nv_text_;
};

}  // namespace rf::http::h2

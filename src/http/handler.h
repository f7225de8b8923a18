#pragma once
// Endpoint: what the router maps a method + path to. A handler is either
// synchronous (health, metrics: answered inline, no coroutine frame per
// request) or a coroutine (API calls that wait on the engine).

#include <cstdint>
#include <span>
#include <string>

#include "http/h1_parser.h"
#include "http/response.h"
#include "http/router.h"
#include "reactor/task.h"

namespace rf::http {

struct Connection;
namespace h2 {
struct H2Stream;
}

// Stream: an async handler's way to answer with a body of unknown length
// (Server-Sent Events). Start() sends the head without Content-Length, so the
// body runs until the connection closes, which it does when the handler
// returns. Only the handler's coroutine sends; anything on the shard may Abort().
class Stream {
 public:
  explicit Stream(Connection* c, h2::H2Stream* h2 = nullptr) : c_(c), h2_(h2) {}
  // Sends the head and whatever resp.body holds. False: the peer is gone, or the request was
  // HEAD (then only the head is sent, and every Send fails: the response ends there).
  reactor::Task<bool> Start(const Response& resp);
  // Suspends until `bytes` are with the kernel. False: the peer is gone, the
  // send stalled past the idle timeout, or Abort() was called.
  reactor::Task<bool> Send(std::string_view bytes);
  // Sends `parts` one after another, in as few writes as the transport allows (HTTP/1.1 in
  // clear: vectored sends straight from the parts, no copy). The parts stay alive until it returns.
  reactor::Task<bool> Send(std::span<const std::string_view> parts);
  // HTTP/1.1: caps the kernel's send buffer of this connection (SO_SNDBUF), so that a long
  // stream to a slow reader pins at most this much kernel memory; no-op over HTTP/2.
  void LimitSendBuffer(int bytes);
  // After Start: the handler no longer reads rc.req, rc.params or rc.resp. An HTTP/1.1
  // connection then frees its request and response buffers, an HTTP/2 stream its request (header
  // table and header buffers), so that a long idle stream holds none (a stream whose request is
  // audited keeps them: the audit reads the request at the end).
  void ReleaseRequest();
  // Fails the pending Send (if any) and every later one; calls the abort hook.
  void Abort();
  void OnAbort(void (*fn)(void*), void* ctx) { abort_fn_ = fn, abort_ctx_ = ctx; }
  bool started() const { return started_; }
  bool aborted() const { return aborted_; }
  unsigned shard() const;

 private:
  Connection* c_;
  h2::H2Stream* h2_;
  bool started_ = false;
  bool aborted_ = false;
  void (*abort_fn_)(void*) = nullptr;
  void* abort_ctx_ = nullptr;
};

// Who made the request, as the server's Admission established it (empty `subject` when the
// route is open or authentication is off). Strings keep their capacity across a connection's
// requests.
struct Identity {
  std::string subject;  // e.g. "key:0123abcd...", "jwt:alice"
  std::string ns;       // the principal's namespace ("*": every one)
  uint8_t role = 0;     // the admission's own encoding (auth::Role)
  bool authenticated = false;
  bool audit_pending = false;  // the audit reserved an entry: FinishAudit records the outcome
};

struct RequestContext {
  const Request& req;
  const Params& params;
  Response& resp;
  Stream* stream = nullptr;  // async handlers only
  const Identity* who = nullptr;
};

using SyncHandler = void (*)(void* ctx, RequestContext& rc);
using AsyncHandler = reactor::Task<void> (*)(void* ctx, RequestContext& rc);

struct Endpoint {
  SyncHandler sync = nullptr;
  AsyncHandler async = nullptr;
  void* ctx = nullptr;
  uint16_t route_id = 0;  // index into the route names, for metrics labels
  uint8_t access = 0;     // what the route needs, as the Admission reads it (api: auth::Access)
  bool audited = false;   // its mutations (not GET/HEAD) go to the RequestAudit
};

}  // namespace rf::http

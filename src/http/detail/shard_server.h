#pragma once
// Private to http/: one shard's listener, its connections and their timeouts.

#include <string>

#include <memory>

#include "base/buffer.h"
#include "http/server.h"
#include "tls/tls_session.h"
#include "reactor/io.h"
#include "reactor/nap.h"

namespace rf::http {

class ShardServer;
struct H2Conn;

struct Connection {
  Connection(ShardServer& s, int f) : owner(s), fd(f) {}
  ShardServer& owner;
  int fd;
  Buffer in{4096};
  Buffer out;
  Buffer body;
  std::string headers;
  // On the heap: its header table is most of a connection's size, and an idle event stream
  // gives it back (Stream::ReleaseRequest).
  std::unique_ptr<Request> req = std::make_unique<Request>();
  Router<Endpoint>::Match match;
  Identity who;  // of the request being answered (ServerOptions::admission)
  Stream* stream = nullptr;  // a streamed response in progress
  H2Conn* h2 = nullptr;      // the connection speaks HTTP/2 (h2_connection.cc)
  // TLS (--tls-cert): the socket carries tls_in/tls_out; in/out hold plaintext as without TLS.
  std::unique_ptr<tls::TlsSession> tls;
  Buffer tls_in;
  Buffer tls_out;
  // In-flight ops that a timeout (both) or a drain (recv of an idle connection) may cancel.
  reactor::Completion* recv_op = nullptr;
  reactor::Completion* send_op = nullptr;
  Nanos deadline = INT64_MAX;
  bool timed_out = false;
  bool drain_closed = false;
  bool idle = true;  // waiting for the first byte of a request
  // The buffers' capacity as last counted in HttpStats::buffer_bytes.
  size_t buffer_bytes = 0;
  Connection* prev = nullptr;
  Connection* next = nullptr;
};

class ShardServer {
 public:
  ShardServer(Server& server, unsigned shard_id, int listen_fd)
      : server_(server), shard_id_(shard_id), listen_fd_(listen_fd) {}

  void Start(reactor::Shard& shard);
  void BeginDrain(reactor::Shard& shard);
  // Ends the sweeper once the connections are gone (after the drain), so its frame is freed
  // before the reactor stops.
  reactor::Task<void> StopSweep();
  HttpStats& stats() { return stats_; }
  const HttpStats& stats() const { return stats_; }

 private:
  friend class Stream;
  friend struct H2Conn;
  struct AcceptOp : reactor::Completion {
    ShardServer* self;
  };
  static void OnAccept(reactor::Completion* c, int32_t res, uint32_t flags);
  void ArmAccept();
  void Admit(int fd);
  void Link(Connection* c);
  void Unlink(Connection* c);
  static reactor::Task<void> Sweep(ShardServer* self);
  static reactor::Task<void> RearmAcceptLater(ShardServer* self);
  static reactor::Task<void> Serve(Connection* c);
  static reactor::Task<bool> Flush(Connection* c);
  // Plaintext HTTP/1.1: `parts` to the socket by vectored sends (after what `out` holds).
  static reactor::Task<bool> FlushParts(Connection* c, std::span<const std::string_view> parts);
  static reactor::Task<void> Linger(Connection* c);
  // HTTP/2 on this connection until it ends: after the client preface (upgrade == nullptr), or
  // after `Upgrade: h2c` (the upgrade request, the first `consumed` bytes of c->in, becomes
  // stream 1; settings is its decoded HTTP2-Settings).
  static reactor::Task<void> ServeH2(Connection* c, const Request* upgrade,
                                     std::string_view settings, size_t consumed);
  static reactor::Task<void> WriteH2(H2Conn* h);
  static bool WantsH2c(const Request& req, std::string& settings);
  // TLS: the handshake (under the header timeout), then any application data it carried is in
  // c->in. False: it failed or timed out; close.
  static reactor::Task<bool> TlsHandshake(Connection* c);
  // TLS: encrypts c->out into c->tls_out (c->out is then empty). Without TLS: nothing.
  static void Seal(Connection* c);
  // The bytes for the socket: c->tls_out with TLS, else c->out.
  static Buffer& Wire(Connection* c) { return c->tls ? c->tls_out : c->out; }
  // After a recv of n bytes into the span RecvSpan() gave: with TLS, decrypts them into c->in.
  // False: the TLS stream failed.
  static bool Received(Connection* c, size_t n);
  static std::span<char> RecvSpan(Connection* c, size_t chunk) {
    return c->tls ? c->tls_in.Writable(chunk) : c->in.Writable(chunk);
  }
  // Gives back buffer memory a large request or response took, and updates the gauge.
  void ReleaseBuffers(Connection* c);
  // Answers sync routes, 404 and 405 into resp; returns the endpoint to await for async routes.
  const Endpoint* Route(Connection* c, Response& resp, uint16_t& route_id);
  void Finish(Connection* c, const Response& resp, uint16_t route_id, Nanos t0);
  void ReplyError(Connection* c, int status, std::string_view message);

  Server& server_;
  const unsigned shard_id_;
  int listen_fd_;
  reactor::Shard* shard_ = nullptr;
  AcceptOp accept_op_{};
  bool accepting_ = false;
  bool draining_ = false;
  bool sweep_stop_ = false;
  reactor::Nap* sweep_nap_ = nullptr;  // the sweeper's pause, cut short by StopSweep
  reactor::TaskGroup sweeper_;
  bool accept_backoff_ = false;  // accept failed (EMFILE...): re-armed after a pause
  uint64_t accept_errors_ = 0;
  Nanos accept_error_logged_ = 0;
  Connection* head_ = nullptr;
  HttpStats stats_;
  reactor::TaskGroup conns_;
};

}  // namespace rf::http

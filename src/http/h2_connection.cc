// HTTP/2 on one connection: the reader (the connection's coroutine) feeds the session, a writer
// task sends what it produces, and each async handler runs as a task of its own whose Stream
// writes into its HTTP/2 stream (handler.h).

#include <sys/socket.h>

#include <algorithm>

#include "http/detail/h2_conn.h"
#include "http/detail/shard_server.h"
#include "obs/log.h"

namespace rf::http {

using reactor::Shard;

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// The writer sends once this much is produced (or nothing more is pending). One send is in flight
// per connection, so this is what one connection can send per turn of the shard's loop, shared
// by all its streams: at 64 KiB, 100 event streams got ~4 frames each per turn (an HTTP/1.1
// subscriber gets up to 64 per sendmsg), and a shard whose turns grew long under load fell
// behind for good (issue 13). nghttp2 fills it round-robin across the streams with data.
constexpr size_t kWriteBatch = 512 * 1024;
// A connection's output buffer above this is given back when the writer idles.
constexpr size_t kKeepOut = 64 * 1024;
constexpr Nanos kCloseGrace = 2 * kSeconds;

struct ParkWriter {
  H2Conn* h;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> c) noexcept { h->writer_parked = c; }
  void await_resume() const noexcept {}
};

reactor::Task<void> RunHandler(H2Conn* h, h2::H2Stream* s, const Endpoint* ep) {
  Stream stream(h->c, s);
  s->api = &stream;
  RequestContext rc{s->rq->req, s->match.params, s->resp, &stream, &s->who};
  co_await ep->async(ep->ctx, rc);  // suspends
  h->session->FinishAsync(s, stream.started(), stream.aborted());
}

}  // namespace

void H2Conn::StartAsync(h2::H2Stream* s, const Endpoint* ep) {
  reactor::Spawn(RunHandler(this, s, ep), &handlers);
}

void H2Conn::Resume(std::coroutine_handle<> h) { Shard::Current().Schedule(h); }

void H2Conn::WakeWriter() {
  if (writer_parked) Shard::Current().Schedule(std::exchange(writer_parked, {}));
}

void H2Conn::AbortHandler(h2::H2Stream* s) { s->api->Abort(); }

void H2Conn::Tick(Nanos now) {
  const ServerOptions& opt = c->owner.server_.options();
  Shard& shard = Shard::Current();
  if (c->send_op && now >= send_deadline) {  // the peer does not read
    c->timed_out = true;
    shard.Cancel(c->send_op);
  }
  if (session->HasOpenStreams() || !c->out.empty()) {
    last_activity = now;
  } else if (c->recv_op && !closing && now - last_activity >= opt.idle_timeout) {
    c->owner.stats_.timeouts.Add();
    c->timed_out = true;
    session->Shutdown();  // GOAWAY, sent by the writer once the reader stops
    shard.Cancel(c->recv_op);
  }
  session->Tick(now);
}

void H2Conn::BeginDrain() { session->Shutdown(); }

reactor::Task<void> ShardServer::WriteH2(H2Conn* h) {
  Connection* c = h->c;
  const ServerOptions& opt = c->owner.server_.options();
  while (true) {
    if (!h->session->Produce(c->out, kWriteBatch)) break;
    Seal(c);
    if (c->tls) c->tls->TakeOutput(c->tls_out);  // also what reading produced (key updates)
    Buffer& wire = Wire(c);
    if (wire.empty()) {
      if (h->closing || h->session->Done()) break;
      // Idle: a burst's large output buffers go back (an idle HTTP/2 subscriber stays small).
      if (c->out.capacity() > kKeepOut) c->out = Buffer();
      if (c->tls_out.capacity() > kKeepOut) c->tls_out = Buffer();
      co_await ParkWriter{h};  // suspends until the session has output
      continue;
    }
    std::string_view data = wire.view();
    bool ok = true;
    while (!data.empty()) {
      reactor::SendOp op(c->fd, data);
      c->send_op = &op;
      h->send_deadline = MonoNow() + opt.idle_timeout;
      auto n = co_await op;  // suspends
      c->send_op = nullptr;
      h->send_deadline = INT64_MAX;
      if (!n || *n == 0) {
        ok = false;
        break;
      }
      data.remove_prefix(*n);
    }
    wire.Clear();
    if (!ok) break;
  }
  c->out.Clear();
  c->tls_out.Clear();
  h->writer_done = true;
  if (c->recv_op) Shard::Current().Cancel(c->recv_op);  // the reader stops too
}

reactor::Task<void> ShardServer::ServeH2(Connection* c, const Request* upgrade,
                                         std::string_view settings, size_t consumed) {
  ShardServer& self = c->owner;
  const ServerOptions& opt = self.server_.options();
  self.stats_.h2_connections.Add();
  H2Conn h(c);
  h2::SessionOptions so;
  so.router = &self.server_.router();
  so.route_names = &self.server_.route_names();
  so.limits = opt.limits;
  so.max_streams = opt.h2_max_streams;
  so.stall_timeout = opt.idle_timeout;
  so.request_timeout = opt.header_timeout + opt.body_timeout;
  so.access_log = opt.access_log;
  so.server = &opt;
  so.shard = self.shard_id_;
  h2::Session session(so, &self.stats_, &h);
  h.session = &session;
  h.last_activity = MonoNow();
  c->h2 = &h;
  c->idle = false;
  c->deadline = INT64_MAX;  // the sweep asks h.Tick() instead
  if (upgrade != nullptr) {
    session.Upgrade(settings, *upgrade, upgrade->method == Method::kHead);  // copies the request
    c->in.Consume(consumed);
  }
  reactor::Spawn(WriteH2(&h), &h.writer);
  bool peer_gone = false;
  while (!h.writer_done) {
    if (!c->in.empty()) {
      const bool ok = session.Receive(c->in.view());
      c->in.Clear();
      if (!ok) break;
    }
    if (c->in.capacity() > 2 * kReadChunk) c->in.ShrinkTo(kReadChunk);
    reactor::RecvOp recv(c->fd, RecvSpan(c, kReadChunk));
    c->recv_op = &recv;
    recv.Start();
    auto n = co_await recv;  // suspends
    c->recv_op = nullptr;
    if (!n || *n == 0) {
      peer_gone = !c->timed_out && !h.writer_done;
      break;
    }
    h.last_activity = MonoNow();
    if (!Received(c, *n)) break;
    if (c->tls && c->tls->HasOutput()) h.WakeWriter();  // the writer takes it (it owns tls_out)
  }
  h.closing = true;
  if (peer_gone) session.AbortAll();
  // A GOAWAY after an error or a flood gets a short while to leave, not a whole idle timeout.
  h.send_deadline = std::min(h.send_deadline, MonoNow() + kCloseGrace);
  h.WakeWriter();
  co_await h.writer.Wait();  // suspends: the writer sends what is queued (a GOAWAY) and ends
  session.AbortAll();
  co_await h.handlers.Wait();  // suspends: every handler has seen its stream end
  c->h2 = nullptr;
}

}  // namespace rf::http

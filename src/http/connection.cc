// The per-connection loop: parse every complete request in the input buffer,
// answer them in order into one output buffer, send it with one op, then read
// more. Requests are answered from the bytes in place (no copies); the input
// buffer is only compacted between reads.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "http/date_cache.h"
#include "http/detail/shard_server.h"
#include "http/h2/session.h"
#include "obs/log.h"

namespace rf::http {

using reactor::Shard;

namespace {
constexpr size_t kReadChunk = 4096;
constexpr size_t kIdleBufferCap = 16 * 1024;
// A buffer that grew beyond this for one request or response is shrunk back to kIdleBufferCap
// before the connection waits for the next request; up to it, buffers are reused as they are.
constexpr size_t kKeepBufferCap = 64 * 1024;
// Lingering close: after an error reply, input is read and dropped for at most this long and
// this many bytes before the socket is closed.
constexpr Nanos kLingerTime = 2 * kSeconds;
constexpr size_t kLingerBytes = 4 << 20;
}  // namespace

namespace {

// Whether a comma-separated header value lists `token` (case-insensitive).
bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view t = list.substr(0, comma);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.size() != token.size()) continue;
    bool same = true;
    for (size_t i = 0; i < t.size() && same; ++i)
      same = (t[i] | 0x20) == (token[i] | 0x20);
    if (same) return true;
  }
  return false;
}

}  // namespace

// `Upgrade: h2c` with exactly one valid HTTP2-Settings (RFC 7540 §3.2); anything less stays
// HTTP/1.1 (the Upgrade header is then ignored, as RFC 9110 §7.8 allows).
bool ShardServer::WantsH2c(const Request& req, std::string& settings) {
  if (req.version_minor != 1 || !HasToken(req.Header("upgrade"), "h2c")) return false;
  const Header* found = nullptr;
  for (size_t i = 0; i < req.header_count; ++i) {
    const std::string_view n = req.headers[i].name;
    if (n.size() == 14 && HasToken(n, "http2-settings")) {
      if (found != nullptr) return false;
      found = &req.headers[i];
    }
  }
  return found != nullptr && h2::DecodeSettingsHeader(found->value, settings);
}

void ShardServer::Seal(Connection* c) {
  if (!c->tls || c->out.empty()) return;
  c->tls->Write(c->out.view());  // memory BIOs take it all
  c->out.Clear();
  c->tls->TakeOutput(c->tls_out);
}

bool ShardServer::Received(Connection* c, size_t n) {
  if (!c->tls) {
    c->in.Commit(n);
    return true;
  }
  c->tls_in.Commit(n);
  c->tls->Feed(c->tls_in.view());
  c->tls_in.Clear();
  if (c->tls->Read(c->in)) return true;
  c->owner.stats_.tls_failures.Add(std::string_view(c->tls->error()) != "close_notify");
  return false;
}

reactor::Task<bool> ShardServer::TlsHandshake(Connection* c) {
  ShardServer& self = c->owner;
  const Nanos deadline = MonoNow() + self.server_.options_.header_timeout;
  while (true) {
    // The handshake's crypto runs on this shard: let the work already ready (requests of
    // established connections) go first, so a burst of handshakes interleaves with it.
    co_await reactor::Yield{};  // suspends
    const tls::TlsSession::Step step = c->tls->Handshake();
    c->tls->TakeOutput(c->tls_out);
    if (!c->tls_out.empty() && !co_await Flush(c)) co_return false;  // suspends
    if (step == tls::TlsSession::Step::kDone) break;
    if (step == tls::TlsSession::Step::kFailed) {
      self.stats_.tls_failures.Add();
      co_return false;
    }
    reactor::RecvOp recv(c->fd, c->tls_in.Writable(kReadChunk));
    c->recv_op = &recv;
    c->deadline = deadline;  // the sweep cancels a handshake that takes too long
    recv.Start();
    auto n = co_await recv;  // suspends
    c->recv_op = nullptr;
    c->deadline = INT64_MAX;
    if (!n || *n == 0) {
      if (c->timed_out) self.stats_.tls_failures.Add();
      co_return false;
    }
    c->tls_in.Commit(*n);
    c->tls->Feed(c->tls_in.view());
    c->tls_in.Clear();
  }
  self.stats_.tls_handshakes.Add();
  if (c->tls->resumed()) self.stats_.tls_resumed.Add();
  // Application data sent right behind the client's Finished is already buffered.
  if (!c->tls->Read(c->in)) co_return false;
  c->tls->TakeOutput(c->tls_out);  // session tickets
  co_return true;
}

reactor::Task<bool> ShardServer::Flush(Connection* c) {
  Seal(c);
  Buffer& wire = Wire(c);
  std::string_view data = wire.view();
  while (!data.empty()) {
    reactor::SendOp op(c->fd, data);
    c->send_op = &op;
    c->deadline = std::min(c->deadline, MonoNow() + c->owner.server_.options_.idle_timeout);
    auto n = co_await op;  // suspends
    c->send_op = nullptr;
    if (!n || *n == 0) co_return false;
    data.remove_prefix(*n);
  }
  wire.Clear();
  co_return true;
}

reactor::Task<bool> Stream::Start(const Response& resp) {
  if (h2_ != nullptr) {
    started_ = true;
    if (aborted_) co_return false;
    h2_->session->StartStream(h2_);  // resp is the stream's own response
    if (h2_->head_only) {  // the head ended the stream
      aborted_ = true;
      co_return false;
    }
    co_await h2::BodyTaken{h2_};  // suspends
    co_return !aborted_ && !h2_->closed;
  }
  SerializeStreamHead(resp, c_->req->version_minor == 0, DateLine(), c_->out);
  // HEAD: the head a GET would get, then the end (the head says Connection: close).
  const bool head_only = c_->req->method == Method::kHead;
  if (!head_only) c_->out.Append(resp.body.view());
  started_ = true;
  c_->stream = this;
  if (aborted_) co_return false;
  const bool sent = co_await ShardServer::Flush(c_);  // suspends
  if (head_only) aborted_ = true;  // every Send fails: the handler stops streaming
  co_return sent && !aborted_;
}

reactor::Task<bool> Stream::Send(std::string_view bytes) {
  if (aborted_) co_return false;
  if (h2_ != nullptr) {
    if (h2_->closed) co_return false;
    if (!bytes.empty()) h2_->body.Append(bytes);
    h2_->session->PushBody(h2_);
    co_await h2::BodyTaken{h2_};  // suspends
    co_return !aborted_ && !h2_->closed;
  }
  c_->out.Append(bytes);
  co_return co_await ShardServer::Flush(c_) && !aborted_;  // suspends
}

void Stream::Abort() {
  if (aborted_) return;
  aborted_ = true;
  if (h2_ != nullptr) {
    h2_->session->AbortStream(h2_);
  } else if (c_->send_op) {
    Shard::Current().Cancel(c_->send_op);
  }
  if (abort_fn_) abort_fn_(abort_ctx_);
}

unsigned Stream::shard() const { return c_->owner.shard_id_; }

const Endpoint* ShardServer::Route(Connection* c, Response& resp, uint16_t& route_id) {
  const Request& req = *c->req;
  c->match = server_.router_->Find(req.method, req.path);
  const auto& m = c->match;
  route_id = m.kind == Router<Endpoint>::Match::Kind::kFound ? m.handler->route_id : 0;
  if (!AdmitRequest(server_.options_, shard_id_, req, m, c->who, resp)) return nullptr;
  if (m.kind == Router<Endpoint>::Match::Kind::kFound) {
    const Endpoint& ep = *m.handler;
    if (ep.async) return &ep;
    RequestContext rc{req, m.params, resp, nullptr, &c->who};
    ep.sync(ep.ctx, rc);
  } else if (m.kind == Router<Endpoint>::Match::Kind::kMethodNotAllowed) {
    resp.Error(405, "method_not_allowed", "method not allowed for this path");
    resp.AddHeader("Allow", m.allow);
    // Label the 405 with the route the path matched (a rare path: a short scan is fine).
    const auto& names = server_.route_names_;
    for (size_t i = 1; i < names.size(); ++i)
      if (names[i] == m.pattern) route_id = static_cast<uint16_t>(i);
  } else {
    resp.Error(404, "not_found", "no route for this path");
  }
  return nullptr;
}

void ShardServer::Finish(Connection* c, const Response& resp, uint16_t route_id, Nanos t0) {
  const Request& req = *c->req;
  bool keep_alive = req.keep_alive && !resp.close && !draining_;
  SerializeResponse(resp, keep_alive, req.version_minor == 0, req.method == Method::kHead,
                    DateLine(), c->out);
  if (!keep_alive) c->req->keep_alive = false;
  Nanos dt = MonoNow() - t0;
  stats_.requests[route_id][StatusSlot(resp.status)].Add();
  stats_.duration[route_id].ObserveNanos(dt);
  FinishAudit(server_.options_, shard_id_, req, c->match, c->who, resp.status);
  if (server_.options_.access_log) {
    RF_LOG(kInfo, "access", {"method", req.method_str}, {"target", req.target},
           {"status", resp.status}, {"bytes", resp.body.size()}, {"dur_us", dt / 1000});
  }
}

void ShardServer::ReplyError(Connection* c, int status, std::string_view message) {
  c->body.Clear();
  c->headers.clear();
  Response resp(c->body, c->headers);
  const char* code = status == 408   ? "request_timeout"
                     : status == 413 ? "payload_too_large"
                     : status == 431 ? "headers_too_large"
                     : status == 501 ? "not_implemented"
                     : status == 505 ? "version_not_supported"
                                     : "bad_request";
  resp.Error(status, code, message);
  SerializeResponse(resp, false, false, false, DateLine(), c->out);
  stats_.requests[0][StatusSlot(status)].Add();
}

void ShardServer::ReleaseBuffers(Connection* c) {
  if (c->in.empty() && c->in.capacity() > kIdleBufferCap) c->in.ShrinkTo(kIdleBufferCap);
  if (c->out.empty() && c->out.capacity() > kKeepBufferCap) c->out.ShrinkTo(kIdleBufferCap);
  if (c->body.capacity() > kKeepBufferCap) {  // already serialised into `out`
    c->body.Clear();
    c->body.ShrinkTo(kIdleBufferCap);
  }
  const size_t now = c->in.capacity() + c->out.capacity() + c->body.capacity();
  stats_.buffer_bytes.Add(static_cast<int64_t>(now) - static_cast<int64_t>(c->buffer_bytes));
  c->buffer_bytes = now;
}

// Closing a socket with unread input makes the kernel answer with RST, and an RST can discard
// the error reply from the client's receive queue before the client read it. So after an error
// reply: half-close (the reply is followed by FIN), read and drop what the client still sends,
// and close once it closes too or the bounds are reached.
reactor::Task<void> ShardServer::Linger(Connection* c) {
  ShardServer& self = c->owner;
  self.stats_.lingering_closes.Add();
  ::shutdown(c->fd, SHUT_WR);  // queues a FIN after the reply; does not block
  c->timed_out = false;
  c->idle = true;  // a drain cuts the linger short, as it does an idle wait
  // The sweep cancels the recv at this deadline.
  c->deadline = MonoNow() + kLingerTime;
  size_t dropped = 0;
  while (dropped < kLingerBytes && !c->timed_out) {
    c->in.Clear();
    reactor::RecvOp recv(c->fd, c->in.Writable(kReadChunk));
    c->recv_op = &recv;
    recv.Start();
    auto n = co_await recv;  // suspends
    c->recv_op = nullptr;
    if (!n || *n == 0) break;
    dropped += *n;
  }
  c->in.Clear();
}

reactor::Task<void> ShardServer::Serve(Connection* c) {
  ShardServer& self = c->owner;
  const ServerOptions& opt = self.server_.options_;
  H1Parser parser(opt.limits);
  bool close = false;
  bool linger = false;  // an error reply: close with a lingering close
  bool continue_sent = false;
  bool head_done = false;
  bool streamed = false;
  Nanos request_start = 0;
  Nanos body_start = 0;  // when the head of the request in progress was complete
  size_t body_received = 0;

  // HTTP/2: the client preface as a connection's first bytes, or an `Upgrade: h2c` request.
  bool maybe_preface = true;
  bool h2 = false;
  const Request* upgrade = nullptr;
  std::string upgrade_settings;
  size_t upgrade_consumed = 0;

  bool tls_failed = false;
  if (c->tls) {
    if (!co_await TlsHandshake(c)) {  // suspends
      tls_failed = true;
    } else if (c->tls->alpn() == "h2") {
      h2 = true;
    }
    maybe_preface = false;  // over TLS, HTTP/2 is chosen by ALPN
  }

  while (!tls_failed && !h2) {
    size_t handled = 0;
    while (!c->in.empty() && !close && handled < opt.max_pipeline) {
      if (maybe_preface) {
        const std::string_view in = c->in.view();
        const size_t k = std::min(in.size(), h2::kClientPreface.size());
        if (in.substr(0, k) != h2::kClientPreface.substr(0, k)) {
          maybe_preface = false;
        } else if (k < h2::kClientPreface.size()) {
          break;  // a prefix of the preface: read on (under the header timeout)
        } else {
          h2 = true;
          break;
        }
      }
      ParseResult r = parser.Parse(c->in.readable(), *c->req);
      if (r.kind == ParseResult::Kind::kIncomplete) {
        head_done = r.head_done;
        if (r.head_done) {
          if (body_start == 0) body_start = MonoNow();
          body_received = c->in.size() - r.head_size;
        }
        if (r.head_done && r.expect_continue && !continue_sent) {
          c->out.Append("HTTP/1.1 100 Continue\r\n\r\n");
          continue_sent = true;
        }
        break;
      }
      if (r.kind == ParseResult::Kind::kError) {
        self.ReplyError(c, r.status, r.message);
        close = true;
        linger = true;
        break;
      }
      maybe_preface = false;
      // h2c is cleartext only (RFC 9113 §3.1): over TLS, HTTP/2 comes by ALPN.
      if (!self.draining_ && !c->tls && WantsH2c(*c->req, upgrade_settings)) {
        c->out.Append("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
        h2 = true;
        upgrade = c->req.get();
        upgrade_consumed = r.consumed;
        break;
      }
      {
        c->body.Clear();
        c->headers.clear();
        Response resp(c->body, c->headers);
        Nanos t0 = MonoNow();
        uint16_t route_id;
        Stream stream(c);
        if (const Endpoint* ep = self.Route(c, resp, route_id)) {
          RequestContext rc{*c->req, c->match.params, resp, &stream, &c->who};
          co_await ep->async(ep->ctx, rc);  // suspends; sync handlers never get here
        }
        if (stream.started()) {  // the body ran until now; the connection ends with it
          c->stream = nullptr;
          self.stats_.requests[route_id][StatusSlot(resp.status)].Add();
          self.stats_.duration[route_id].ObserveNanos(MonoNow() - t0);
          // (A stream that released its request is not audited: see Stream::ReleaseRequest.)
          if (c->req) FinishAudit(opt, self.shard_id_, *c->req, c->match, c->who, resp.status);
          streamed = true;
          break;
        }
        self.Finish(c, resp, route_id, t0);
      }
      c->in.Consume(r.consumed);
      if (!c->req->keep_alive) close = true;
      continue_sent = false;
      head_done = false;
      body_start = 0;
      request_start = MonoNow();  // a pipelined remainder starts its clock now
      ++handled;
    }
    if (streamed || h2) break;
    const bool more_buffered = handled == opt.max_pipeline && !c->in.empty();
    const bool want_recv = !close && !more_buffered && !(self.draining_ && c->in.empty());

    // A response that outgrew the buffers goes out on its own, so that they shrink before the
    // connection waits (maybe long) for its next request; small ones ride with the next recv.
    if (want_recv && !c->out.empty() && c->out.capacity() > kKeepBufferCap) {
      c->deadline = INT64_MAX;
      if (!co_await Flush(c)) break;  // suspends
    }
    self.ReleaseBuffers(c);
    // Send and the next read go to the kernel in one io_uring_enter: the send is
    // linked before the recv and reports only failure (CQE_SKIP_SUCCESS), so a
    // request-response turn costs one syscall. The recv starts after the whole
    // response is out (MSG_WAITALL), so `out` is free again once recv completes.
    Seal(c);
    Buffer& wire = Wire(c);
    reactor::RecvOp recv(c->fd, want_recv ? RecvSpan(c, kReadChunk) : std::span<char>{});
    reactor::SendOp linked_send(c->fd, wire.view());
    c->deadline = INT64_MAX;
    if (want_recv) {
      c->idle = c->in.empty();
      Nanos now = MonoNow();
      if (c->idle) {
        c->deadline = now + opt.idle_timeout;
      } else if (!head_done) {
        if (request_start == 0) request_start = now;
        c->deadline = request_start + opt.header_timeout;
      } else {
        // A body has a total deadline and a minimum average rate; progress does not restart
        // the clock, so a trickle cannot hold the connection and its buffer for ever.
        c->deadline = std::min(now + opt.idle_timeout, body_start + opt.body_timeout);
        if (opt.body_min_rate > 0) {
          const double earned = static_cast<double>(body_received) /
                                static_cast<double>(opt.body_min_rate) * kSeconds;
          c->deadline =
              std::min(c->deadline, body_start + kBodyRateGrace + static_cast<Nanos>(earned));
        }
      }
      if (!wire.empty()) {
        linked_send.msg_flags |= MSG_WAITALL;
        linked_send.sqe_flags = IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
        c->send_op = &linked_send;
        linked_send.Start();
      }
      c->recv_op = &recv;
      recv.Start();
    } else if (!wire.empty() && !co_await Flush(c)) {  // suspends
      linger = false;
      break;
    }
    if (!want_recv) {
      if (!more_buffered) break;
      co_await reactor::Yield{};  // bounded pipelining: let other connections run
      continue;
    }
    auto n = co_await recv;  // suspends
    c->recv_op = nullptr;
    c->send_op = nullptr;
    // A failed linked send posts its own completion before the recv's -ECANCELED.
    if (linked_send.done && linked_send.res < 0) break;
    wire.Clear();
    if (!n || *n == 0) {
      if (c->timed_out) {
        self.stats_.timeouts.Add();
        if (!c->in.empty() && !c->drain_closed) {
          if (head_done) self.stats_.body_timeouts.Add();
          self.ReplyError(
              c, 408,
              head_done ? "request body not received in time" : "request not received in time");
          c->deadline = INT64_MAX;
          linger = co_await Flush(c);  // suspends
        }
      }
      break;
    }
    if (c->idle) request_start = MonoNow();
    c->timed_out = false;  // the sweep's cancel may have lost the race against this data
    if (!Received(c, *n)) break;
    c->idle = false;
  }

  if (h2) co_await ServeH2(c, upgrade, upgrade_settings, upgrade_consumed);  // suspends
  if (linger) co_await Linger(c);  // suspends
  ::close(c->fd);
  self.Unlink(c);
  self.stats_.buffer_bytes.Add(-static_cast<int64_t>(c->buffer_bytes));
  self.stats_.connections_open.Add(-1);
  self.stats_.connections_closed.Add();
  self.server_.connections_.fetch_sub(1, std::memory_order_relaxed);
  delete c;
}

}  // namespace rf::http

#include "http/date_cache.h"
#include "http/detail/h2_conn.h"
#include "http/detail/shard_server.h"
#include "tls/tls_context.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "obs/log.h"

namespace rf::http {

using reactor::Shard;

void ShardServer::Start(Shard& shard) {
  shard_ = &shard;
  accept_op_.self = this;
  accept_op_.on_complete = &ShardServer::OnAccept;
  accepting_ = true;
  ArmAccept();
  reactor::Spawn(Sweep(this), &sweeper_);
  server_.serving_.fetch_add(1, std::memory_order_acq_rel);
}

void ShardServer::ArmAccept() {
  io_uring_sqe* sqe = shard_->Sqe();
  if (shard_->features().multishot_accept) {
    io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data(sqe, static_cast<reactor::Completion*>(&accept_op_));
}

void ShardServer::OnAccept(reactor::Completion* c, int32_t res, uint32_t flags) {
  ShardServer* self = static_cast<AcceptOp*>(c)->self;
  if (res >= 0) {
    if (self->accepting_) {
      self->Admit(res);
    } else {
      ::close(res);
    }
  } else if (res != -ECANCELED && res != -EBADF && res != -EINVAL) {
    // EMFILE/ENFILE/ENOBUFS: retrying at once would spin; back off, and log once per interval.
    Nanos now = MonoNow();
    ++self->accept_errors_;
    if (now - self->accept_error_logged_ >= kSeconds) {
      RF_LOG(kWarn, "accept failed; backing off", {"error", strerror(-res)},
             {"errors_since_last_log", self->accept_errors_});
      self->accept_error_logged_ = now;
      self->accept_errors_ = 0;
    }
    if (!self->accept_backoff_) {
      self->accept_backoff_ = true;
      if (flags & IORING_CQE_F_MORE) self->shard_->Cancel(&self->accept_op_);
      reactor::Spawn(RearmAcceptLater(self));
    }
    return;
  }
  if (!(flags & IORING_CQE_F_MORE) && self->accepting_ && !self->accept_backoff_) self->ArmAccept();
}

reactor::Task<void> ShardServer::RearmAcceptLater(ShardServer* self) {
  co_await reactor::Sleep(50 * kMillis);  // suspends
  self->accept_backoff_ = false;
  if (self->accepting_) self->ArmAccept();
}

void ShardServer::Admit(int fd) {
  auto& total = server_.connections_;
  if (total.fetch_add(1, std::memory_order_relaxed) >=
      static_cast<int64_t>(server_.options_.max_connections)) {
    total.fetch_sub(1, std::memory_order_relaxed);
    stats_.connections_rejected.Add();
    if (server_.options_.tls != nullptr) {  // a plaintext 503 means nothing to a TLS client
      ::close(fd);
      return;
    }
    // A fresh socket's send buffer is empty: this non-blocking send cannot stall the shard.
    Buffer body, out;
    std::string headers;
    Response resp(body, headers);
    resp.Error(503, "unavailable", "too many connections, retry later");
    resp.AddHeader("Retry-After", "1");
    SerializeResponse(resp, false, false, false, DateLine(), out);
    ssize_t w = ::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    ::close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  stats_.connections_accepted.Add();
  stats_.connections_open.Add(1);
  auto* c = new Connection(*this, fd);
  if (server_.options_.tls != nullptr)
    c->tls = std::make_unique<tls::TlsSession>(server_.options_.tls->Acquire());
  Link(c);
  reactor::Spawn(Serve(c), &conns_);
}

void ShardServer::Link(Connection* c) {
  c->next = head_;
  if (head_) head_->prev = c;
  head_ = c;
}

void ShardServer::Unlink(Connection* c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    head_ = c->next;
  if (c->next) c->next->prev = c->prev;
}

void ShardServer::BeginDrain(Shard& shard) {
  if (draining_) return;
  draining_ = true;
  accepting_ = false;
  shard.Cancel(&accept_op_);
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  listen_fd_ = -1;
  server_.serving_.fetch_sub(1, std::memory_order_acq_rel);
  for (Connection* c = head_; c; c = c->next) {
    if (c->h2) {
      c->h2->BeginDrain();
      continue;
    }
    if (c->stream) c->stream->Abort();
    if (c->idle && c->recv_op) {
      c->drain_closed = true;
      shard.Cancel(c->recv_op);
    }
  }
}

reactor::Task<void> ShardServer::StopSweep() {
  sweep_stop_ = true;
  if (sweep_nap_) sweep_nap_->Wake();
  co_await sweeper_.Wait();  // suspends
}

reactor::Task<void> ShardServer::Sweep(ShardServer* self) {
  const ServerOptions& o = self->server_.options_;
  Nanos interval = std::clamp<Nanos>(
      std::min({o.header_timeout, o.idle_timeout, o.body_timeout}) / 5, 10 * kMillis, kSeconds);
  while (!self->shard_->stopping() && !self->sweep_stop_) {
    co_await reactor::Nap(&self->sweep_nap_, self->draining_ ? 20 * kMillis : interval);  // suspends
    Nanos now = MonoNow();
    for (Connection* c = self->head_; c; c = c->next) {
      if (c->h2) {
        c->h2->Tick(now);
        continue;
      }
      if ((c->recv_op || c->send_op) && !c->timed_out && now >= c->deadline) {
        c->timed_out = true;
        if (c->recv_op) self->shard_->Cancel(c->recv_op);
        if (c->send_op) self->shard_->Cancel(c->send_op);
      } else if (self->draining_ && c->idle && c->recv_op) {
        // A recv linked behind a response still being sent cannot be cancelled
        // until it starts: keep asking while draining.
        c->drain_closed = true;
        self->shard_->Cancel(c->recv_op);
      }
    }
  }
}

}  // namespace rf::http

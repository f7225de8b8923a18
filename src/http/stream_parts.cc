// A streamed response's vectored send: an SSE writer hands over references to
// shared event frames, and they reach the socket without being copied into the
// connection's buffer (HTTP/1.1 in clear). Over TLS or HTTP/2 the bytes must be
// framed or encrypted anyway: over TLS they are appended and sent as one write; over HTTP/2
// nghttp2 copies them from the chunks into DATA frames (h2::H2Stream::parts).

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include "http/detail/shard_server.h"
#include "http/h2/session.h"

namespace rf::http {

namespace {
constexpr size_t kMaxIov = 64;  // parts per sendmsg (far below IOV_MAX)
}  // namespace

reactor::Task<bool> ShardServer::FlushParts(Connection* c, std::span<const std::string_view> parts) {
  if (!c->out.empty() && !co_await Flush(c)) co_return false;  // suspends
  size_t first = 0;     // the first part not fully sent
  size_t offset = 0;    // bytes of parts[first] already sent
  while (first < parts.size()) {
    iovec iov[kMaxIov];
    size_t n = 0;
    for (size_t i = first; i < parts.size() && n < kMaxIov; ++i) {
      const std::string_view p = i == first ? parts[i].substr(offset) : parts[i];
      if (p.empty()) continue;
      iov[n++] = iovec{const_cast<char*>(p.data()), p.size()};
    }
    if (n == 0) break;
    reactor::SendMsgOp op(c->fd, iov, n);
    c->send_op = &op;
    c->deadline = std::min(c->deadline, MonoNow() + c->owner.server_.options_.idle_timeout);
    auto sent = co_await op;  // suspends
    c->send_op = nullptr;
    if (!sent || *sent == 0) co_return false;
    size_t left = *sent;
    while (left > 0 && first < parts.size()) {
      const size_t rest = parts[first].size() - offset;
      if (left < rest) {
        offset += left;
        left = 0;
      } else {
        left -= rest;
        ++first;
        offset = 0;
      }
    }
  }
  co_return true;
}

reactor::Task<bool> Stream::Send(std::span<const std::string_view> parts) {
  if (aborted_) co_return false;
  if (h2_ != nullptr) {
    if (h2_->closed) co_return false;
    // nghttp2 reads the parts where they are (they live until this returns): no copy of the
    // batch per stream, so a stream that is behind holds references only, as over HTTP/1.1.
    h2_->parts = parts;
    h2_->part = h2_->part_off = 0;
    h2_->session->PushBody(h2_);
    co_await h2::BodyTaken{h2_};  // suspends
    h2_->DropParts();  // reset or aborted before all was taken: nothing may read them now
    co_return !aborted_ && !h2_->closed;
  }
  if (c_->tls) {
    for (std::string_view p : parts) c_->out.Append(p);
    co_return co_await ShardServer::Flush(c_) && !aborted_;  // suspends
  }
  co_return co_await ShardServer::FlushParts(c_, parts) && !aborted_;  // suspends
}

void Stream::LimitSendBuffer(int bytes) {
  if (h2_ != nullptr) return;  // the connection's other streams share the socket
  ::setsockopt(c_->fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

void Stream::ReleaseRequest() {
  if (h2_ != nullptr) {
    if (started_) h2_->session->ReleaseRequest(h2_);
    return;
  }
  if (!started_ || c_->who.audit_pending) return;
  // Nothing reads the request after this: the connection closes when the stream ends.
  c_->req.reset();  // its header table (~3 KiB) views the input buffer, freed next
  c_->in = Buffer();
  c_->body = Buffer();
  if (!c_->tls && c_->out.empty()) c_->out = Buffer();  // plaintext sends go from the chunks
  std::string().swap(c_->headers);
  c_->owner.ReleaseBuffers(c_);  // updates rf_http_connection_buffer_bytes
}

}  // namespace rf::http

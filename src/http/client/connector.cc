#include "http/client/connector.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/buffer.h"

namespace rf::http::client {

Error SocketError(const Error& e) {
  switch (e.sys_errno) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ENOTCONN:
    case ENETUNREACH:
    case ENETDOWN:
    case ENETRESET:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
      return Error{Errc::kUnavailable, e.context, e.sys_errno};
    case ETIMEDOUT:
      return Error{Errc::kTimeout, e.context, e.sys_errno};
    default:
      return Error{e.code == Errc::kCancelled ? Errc::kCancelled : Errc::kIo, e.context,
                   e.sys_errno};
  }
}

reactor::Task<Result<int>> Connect(std::span<const SocketAddress> addresses, uint16_t port,
                                   const EgressPolicy& egress, std::string_view host,
                                   Watchdog& dog) {
  Error last{Errc::kUnavailable, "no address to connect to"};
  bool tried = false;
  for (const SocketAddress& candidate : addresses) {
    if (dog.fired()) co_return dog.error();
    // Judged here, on the very address connected to next: whatever DNS said, and however the
    // URL spelled it, nothing reaches a denied address.
    if (Status allowed = egress.Check(host, candidate); !allowed) {
      if (!tried && last.code != Errc::kEgressDenied) last = allowed.error();
      continue;
    }
    tried = true;
    SocketAddress address = candidate;
    address.SetPort(port);
    const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = SocketError(Error::FromErrno(errno, "socket"));
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ConnectOp op(fd, &address);
    Status st = co_await dog.Guard(op);  // suspends
    if (st) co_return fd;
    ::close(fd);
    if (dog.fired()) co_return dog.error();
    last = SocketError(st.error());
    last.context = "connect to " + address.ToString() + ": " + std::strerror(last.sys_errno);
  }
  co_return last;
}

reactor::Task<bool> SendGuarded(int fd, std::string_view bytes, Watchdog& dog, Error& error) {
  while (!bytes.empty()) {
    reactor::SendOp op(fd, bytes);
    Result<size_t> n = co_await dog.Guard(op);  // suspends
    if (!n || *n == 0) {
      error = dog.fired() ? dog.error()
              : n         ? Error{Errc::kUnavailable, "send: connection closed"}
                          : SocketError(n.error());
      co_return false;
    }
    bytes.remove_prefix(*n);
  }
  co_return true;
}

reactor::Task<Result<std::unique_ptr<tls::TlsSession>>> TlsHandshake(int fd, SSL_CTX* ctx,
                                                                      const std::string& host,
                                                                      Watchdog& dog) {
  std::unique_ptr<tls::TlsSession> session = tls::TlsSession::Client(ctx, host);
  Buffer out;
  char in[16 * 1024];
  while (true) {
    const tls::TlsSession::Step step = session->Handshake();
    session->TakeOutput(out);
    if (!out.empty()) {
      Error error;
      if (!co_await SendGuarded(fd, out.view(), dog, error)) co_return error;  // suspends
      out.Consume(out.size());
    }
    if (step == tls::TlsSession::Step::kDone) co_return session;
    if (step == tls::TlsSession::Step::kFailed)
      co_return Error{Errc::kUnavailable, "TLS handshake with " + host + ": " + session->error()};
    reactor::RecvOp op(fd, {in, sizeof in});
    Result<size_t> n = co_await dog.Guard(op);  // suspends
    if (!n) co_return dog.fired() ? dog.error() : SocketError(n.error());
    if (*n == 0) co_return Error{Errc::kUnavailable, "TLS handshake with " + host + ": the server closed the connection"};
    session->Feed({in, *n});
  }
}

}  // namespace rf::http::client

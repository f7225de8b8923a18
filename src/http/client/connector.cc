#include "http/client/connector.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace rf::http::client

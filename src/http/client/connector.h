#pragma once
// Connector: opens outbound TCP connections through the shard's ring. Shard-local.

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "http/client/egress_policy.h"
#include "http/client/resolver.h"
#include "http/client/watchdog.h"
#include "reactor/io.h"
#include "tls/tls_session.h"

namespace rf::http::client {

// IORING_OP_CONNECT (5.5+) on a non-blocking socket: the kernel waits for the handshake, the
// shard does not. Like the other IoOps, it lives in the awaiting frame.
struct ConnectOp : reactor::IoOp<ConnectOp> {
  int fd;
  const SocketAddress* address;
  ConnectOp(int f, const SocketAddress* a) : fd(f), address(a) {}
  void Prep(io_uring_sqe* sqe) {
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&address->storage),
                          address->len);
  }
  Status await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "connect");
    return {};
  }
};

// Connects to `addresses` (with `port`) in order, moving on when one refuses or is unreachable,
// until one accepts. Each address is first judged by `egress` (for `host`, the URL's host, which
// resolved to them): a denied one is never connected to, only skipped. The socket is
// non-blocking, close-on-exec, with TCP_NODELAY (requests are written whole; Nagle would only
// delay them). Returns the fd, which the caller owns. suspends. Errors: kEgressDenied (every
// address was denied; the first denial's message), kUnavailable (every address tried failed; the
// last error is in the context), kTimeout if the kernel gave up, or the watchdog's error (nothing
// is left open then). `host` must outlive the call.
reactor::Task<Result<int>> Connect(std::span<const SocketAddress> addresses, uint16_t port,
                                   const EgressPolicy& egress, std::string_view host,
                                   Watchdog& dog);

// Maps a socket-level failure (connect, send, recv) to the client's error codes: refused, reset,
// unreachable and the like are kUnavailable; ETIMEDOUT is kTimeout; anything else kIo.
Error SocketError(const Error& e);

// Runs the TLS handshake of a fresh https connection: the session is made for `host` (its
// certificate must verify against `ctx`'s CAs and name `host`), ciphertext moves through the
// ring, and every wait is bounded by `dog`. suspends. Errors: kUnavailable (the handshake
// failed: the context names OpenSSL's reason, e.g. "certificate verify failed: ..."; or the
// peer closed), socket errors as SocketError maps them, or the watchdog's.
reactor::Task<Result<std::unique_ptr<tls::TlsSession>>> TlsHandshake(int fd, SSL_CTX* ctx,
                                                                      const std::string& host,
                                                                      Watchdog& dog);

// Sends all of `bytes`. suspends. False with `error` set when the socket failed or the peer
// closed (`error` is the watchdog's when it fired).
reactor::Task<bool> SendGuarded(int fd, std::string_view bytes, Watchdog& dog, Error& error);

}  // namespace rf::http::client

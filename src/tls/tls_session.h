#pragma once
// TlsSession: one connection's TLS state over memory BIOs. No I/O: the connection receives
// ciphertext with io_uring and Feed()s it, Read()s plaintext out, Write()s plaintext in and
// sends what TakeOutput() gives. So a handshake never blocks a shard on a socket; its only
// cost is the CPU of the crypto. The server side (HTTPS, http/) and the client side (rediss://,
// store/redis) are the same loop: Handshake, send TakeOutput, and while kWantInput receive and
// Feed.

#include <memory>
#include <string>
#include <string_view>

#include "base/buffer.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace rf::tls {

class TlsSession {
 public:
  // A server session; takes the reference TlsContext::Acquire() gave.
  explicit TlsSession(SSL_CTX* ctx);
  // A client session of a TlsClientContext (tls_client.h) that verifies the server's
  // certificate for `host`: an IP literal is matched against the certificate's IP addresses, a
  // name against its DNS names (and sent as SNI). Takes the reference `ctx` gave.
  static std::unique_ptr<TlsSession> Client(SSL_CTX* ctx, const std::string& host);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  enum class Step { kDone, kWantInput, kFailed };
  // Runs the handshake as far as the input allows; output to send is in TakeOutput().
  Step Handshake();
  // Ciphertext from the peer.
  void Feed(std::string_view cipher);
  // Decrypts what is buffered into `plain`. False: the TLS stream failed (bad record, alert) or
  // the peer sent close_notify.
  bool Read(Buffer& plain);
  // Encrypts `plain` (always whole: memory BIOs never refuse).
  bool Write(std::string_view plain);
  // Ciphertext is waiting to be taken (a key update or ticket produced while reading).
  bool HasOutput() const;
  // Appends the ciphertext produced so far to out.
  void TakeOutput(Buffer& out);
  // "h2", "http/1.1" or empty (no ALPN).
  std::string_view alpn() const;
  bool resumed() const;
  // Why the handshake or the stream failed: OpenSSL's reason, and for a certificate that did
  // not verify, why ("certificate verify failed: unable to get local issuer certificate").
  const char* error() const { return error_.c_str(); }
  // "TLSv1.3" once the handshake is done.
  std::string_view protocol() const;

 private:
  TlsSession() = default;
  void Attach(SSL_CTX* ctx);

  SSL* ssl_ = nullptr;
  std::string error_;
};

}  // namespace rf::tls

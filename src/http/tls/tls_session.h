#pragma once
// TlsSession: one connection's TLS state over memory BIOs. No I/O: the connection receives
// ciphertext with io_uring and Feed()s it, Read()s plaintext out, Write()s plaintext in and
// sends what TakeOutput() gives. So a handshake never blocks a shard on a socket; its only
// cost is the CPU of the crypto.

#include <string_view>

#include "base/buffer.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace rf::http {

class TlsSession {
 public:
  explicit TlsSession(SSL_CTX* ctx);  // takes the reference Acquire() gave
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
  const char* error() const { return error_; }

 private:
  SSL* ssl_ = nullptr;
  const char* error_ = "";
};

}  // namespace rf::http

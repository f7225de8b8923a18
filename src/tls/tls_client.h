#pragma once
// TlsClientContext: an OpenSSL client context (TLS 1.2+) that verifies the servers it talks to
// against a CA file: the one given (a private CA, e.g. --redis-ca-file), else the system's
// bundle (OpenSSL's default cert file, /usr/lib/ssl/cert.pem on Debian). Sessions are made with
// TlsSession::Client(ctx.Acquire(), host), which also checks the certificate names that host.
//
// Load reads the file at once (blocking: call it before the reactor starts). Only the file is
// used, never a hashed directory: OpenSSL would read such a directory during each handshake,
// on the shard thread. Immutable once loaded, so every shard may share one; Acquire only
// counts a reference (atomic).

#include <memory>
#include <string>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace rf::tls {

class TlsClientContext {
 public:
  // Errors (kInvalidArgument): the file cannot be read or holds no certificate; the message
  // names the file and the reason. `cert` and `key` set: the certificate presented to servers
  // that ask for one (mutual TLS), read now.
  static Result<std::unique_ptr<TlsClientContext>> Load(const std::string& ca_file,
                                                        const std::string& cert = {},
                                                        const std::string& key = {});
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A reference to the context; TlsSession::Client takes it over.
  SSL_CTX* Acquire() const;
  // The CA file in use (the system's bundle when none was given).
  const std::string& ca_file() const { return ca_file_; }

 private:
  TlsClientContext(SSL_CTX* ctx, std::string ca_file) : ctx_(ctx), ca_file_(std::move(ca_file)) {}
  SSL_CTX* ctx_;
  std::string ca_file_;
};

}  // namespace rf::tls

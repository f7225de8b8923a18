#pragma once
// TlsContext: the server's OpenSSL context (certificate chain, key, TLS 1.2+ with modern
// ciphers, session tickets for resumption, ALPN h2 / http/1.1). Reload() builds a new context
// from the same files and swaps it in: connections already open keep the context they started
// with (each SSL holds a reference), new ones get the new certificate. A failed reload keeps the
// old context. Acquire() and Reload() may be called from any thread.

#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace rf::tls {

class TlsContext {
 public:
  // Reads and checks the files now: an unreadable or mismatched certificate/key is an error
  // that names the file and OpenSSL's reason. `client_ca` set: every client must present a
  // certificate that chains to it (mutual TLS; the handshake fails otherwise).
  static Result<std::unique_ptr<TlsContext>> Load(std::string cert_path, std::string key_path,
                                                  std::string client_ca = {});
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Status Reload();
  // A reference to the current context; the caller frees it (SSL_CTX_free) or hands it to SSL_new.
  SSL_CTX* Acquire();
  const std::string& cert_path() const { return cert_path_; }

 private:
  TlsContext(std::string cert, std::string key, std::string client_ca)
      : cert_path_(std::move(cert)), key_path_(std::move(key)), client_ca_(std::move(client_ca)) {}
  static Result<SSL_CTX*> Build(const std::string& cert, const std::string& key,
                                const std::string& client_ca);

  std::string cert_path_;
  std::string key_path_;
  std::string client_ca_;
  std::mutex mu_;
  SSL_CTX* ctx_ = nullptr;
};

}  // namespace rf::tls

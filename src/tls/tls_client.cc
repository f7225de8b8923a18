#include "tls/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tls/detail/openssl_error.h"

namespace rf::tls {

using detail::OpenSslReason;

Result<std::unique_ptr<TlsClientContext>> TlsClientContext::Load(const std::string& ca_file,
                                                                 const std::string& cert,
                                                                 const std::string& key) {
  const std::string file = ca_file.empty() ? X509_get_default_cert_file() : ca_file;
  const std::string what = ca_file.empty() ? "the system's CA bundle " : "CA file ";
  if (::access(file.c_str(), R_OK) != 0)
    return Error{Errc::kInvalidArgument, "cannot read " + what + file + ": " + std::strerror(errno)};
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Error{Errc::kInternal, "SSL_CTX_new: " + OpenSslReason()};
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> guard(ctx, &SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) != 1)
    return Error{Errc::kInvalidArgument, "cannot load " + what + file + ": " + OpenSslReason()};
  if (!cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
      return Error{Errc::kInvalidArgument, "cannot load client certificate " + cert + ": " + OpenSslReason()};
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
      return Error{Errc::kInvalidArgument, "cannot use client key " + key + ": " + OpenSslReason()};
  }
  return std::unique_ptr<TlsClientContext>(new TlsClientContext(guard.release(), file));
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SSL_CTX* TlsClientContext::Acquire() const {
  SSL_CTX_up_ref(ctx_);
  return ctx_;
}

}  // namespace rf::tls

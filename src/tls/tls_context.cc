#include "tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <memory>

#include "tls/detail/openssl_error.h"

namespace rf::tls {

using detail::OpenSslReason;

namespace {

// ALPN: h2 if the client offers it, else http/1.1; a client that offers neither gets no ALPN
// and is served HTTP/1.1.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static constexpr std::string_view kPreferred[] = {"h2", "http/1.1"};
  for (std::string_view want : kPreferred) {
    for (unsigned int i = 0; i < inlen;) {
      const unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == want.size() && std::memcmp(in + i + 1, want.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

Result<SSL_CTX*> TlsContext::Build(const std::string& cert, const std::string& key,
                                   const std::string& client_ca) {
  // OpenSSL reports a missing file as "system lib": say which file and why first.
  for (const auto& [what, path] : {std::pair{"certificate", &cert}, std::pair{"key", &key},
                                   std::pair{"client CA file", &client_ca}}) {
    if (path->empty() && path == &client_ca) continue;
    if (::access(path->c_str(), R_OK) != 0)
      return Error{Errc::kInvalidArgument,
                   std::string("cannot read TLS ") + what + " " + *path + ": " + std::strerror(errno)};
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Error{Errc::kInternal, "SSL_CTX_new: " + OpenSslReason()};
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> guard(ctx, &SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // TLS 1.2: forward-secret AEAD suites only; TLS 1.3 keeps OpenSSL's (all AEAD) defaults.
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // idle connections give their buffers back
  // Resumption: stateless tickets (any shard can resume them) plus the server-side cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_alpn_select_cb(ctx, &SelectAlpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return Error{Errc::kInvalidArgument, "cannot load TLS certificate " + cert + ": " + OpenSslReason()};
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = OpenSslReason();
    if (why.find("mismatch") != std::string::npos)
      return Error{Errc::kInvalidArgument,
                   "TLS key " + key + " does not match certificate " + cert + ": " + why};
    return Error{Errc::kInvalidArgument, "cannot load TLS key " + key + ": " + why};
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return Error{Errc::kInvalidArgument,
                 "TLS key " + key + " does not match certificate " + cert + ": " + OpenSslReason()};
  if (!client_ca.empty()) {
    // Read now, into the context's store: a hashed directory would be read during handshakes.
    if (SSL_CTX_load_verify_locations(ctx, client_ca.c_str(), nullptr) != 1)
      return Error{Errc::kInvalidArgument, "cannot load client CA file " + client_ca + ": " + OpenSslReason()};
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca.c_str());
    if (names == nullptr)
      return Error{Errc::kInvalidArgument, "client CA file " + client_ca + " holds no certificate"};
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // A resumed session skips the certificate: it must come from a verified one of this port.
    static constexpr unsigned char kSessionContext[] = "ringflow-internal";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  }
  return guard.release();
}

Result<std::unique_ptr<TlsContext>> TlsContext::Load(std::string cert_path, std::string key_path,
                                                     std::string client_ca) {
  auto ctx = Build(cert_path, key_path, client_ca);
  if (!ctx) return ctx.error();
  std::unique_ptr<TlsContext> t(
      new TlsContext(std::move(cert_path), std::move(key_path), std::move(client_ca)));
  t->ctx_ = *ctx;
  return t;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Status TlsContext::Reload() {
  auto ctx = Build(cert_path_, key_path_, client_ca_);
  if (!ctx) return ctx.error();
  SSL_CTX* old;
  {
    std::lock_guard lock(mu_);
    old = ctx_;
    ctx_ = *ctx;
  }
  SSL_CTX_free(old);  // open connections hold their own references
  return {};
}

SSL_CTX* TlsContext::Acquire() {
  std::lock_guard lock(mu_);
  SSL_CTX_up_ref(ctx_);
  return ctx_;
}

}  // namespace rf::tls

#include "tls/tls_session.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>

namespace rf::tls {

namespace {

const char* Reason(const char* fallback) {
  const unsigned long e = ERR_peek_last_error();
  const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return r != nullptr ? r : fallback;
}

}  // namespace

void TlsSession::Attach(SSL_CTX* ctx) {
  ssl_ = SSL_new(ctx);
  SSL_CTX_free(ctx);  // SSL_new took its own reference
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio, -1);  // no input yet means "retry", not end of stream
  SSL_set_bio(ssl_, rbio, wbio);
}

TlsSession::TlsSession(SSL_CTX* ctx) {
  Attach(ctx);
  SSL_set_accept_state(ssl_);
}

std::unique_ptr<TlsSession> TlsSession::Client(SSL_CTX* ctx, const std::string& host) {
  std::unique_ptr<TlsSession> s(new TlsSession());
  s->Attach(ctx);
  SSL_set_connect_state(s->ssl_);
  in6_addr scratch;
  const bool ip = inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
                  inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(s->ssl_, host.c_str());
    SSL_set1_host(s->ssl_, host.c_str());
  }
  return s;
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Step TlsSession::Handshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return Step::kDone;
  const int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) return Step::kWantInput;
  error_ = Reason("handshake failed");
  if (const long v = SSL_get_verify_result(ssl_); v != X509_V_OK)
    error_ = "certificate verify failed: " + std::string(X509_verify_cert_error_string(v));
  return Step::kFailed;
}

void TlsSession::Feed(std::string_view cipher) {
  while (!cipher.empty()) {
    const int n = BIO_write(SSL_get_rbio(ssl_), cipher.data(),
                            static_cast<int>(std::min<size_t>(cipher.size(), INT_MAX)));
    if (n <= 0) return;  // a memory BIO only fails on allocation
    cipher.remove_prefix(static_cast<size_t>(n));
  }
}

bool TlsSession::Read(Buffer& plain) {
  ERR_clear_error();
  while (true) {
    std::span<char> w = plain.Writable(16 * 1024);
    const int n = SSL_read(ssl_, w.data(), static_cast<int>(std::min<size_t>(w.size(), INT_MAX)));
    if (n > 0) {
      plain.Commit(static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) return true;
    error_ = e == SSL_ERROR_ZERO_RETURN ? "close_notify" : Reason("bad TLS record");
    return false;
  }
}

bool TlsSession::Write(std::string_view plain) {
  ERR_clear_error();
  while (!plain.empty()) {
    const int n = SSL_write(ssl_, plain.data(), static_cast<int>(std::min<size_t>(plain.size(), INT_MAX)));
    if (n <= 0) {
      error_ = Reason("TLS write failed");
      return false;
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool TlsSession::HasOutput() const { return BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0; }

void TlsSession::TakeOutput(Buffer& out) {
  BIO* w = SSL_get_wbio(ssl_);
  size_t pending;
  while ((pending = BIO_ctrl_pending(w)) > 0) {
    std::span<char> dst = out.Writable(pending);
    const int n = BIO_read(w, dst.data(), static_cast<int>(std::min<size_t>(pending, INT_MAX)));
    if (n <= 0) return;
    out.Commit(static_cast<size_t>(n));
  }
}

std::string_view TlsSession::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), len);
}

bool TlsSession::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string_view TlsSession::protocol() const { return SSL_get_version(ssl_); }

}  // namespace rf::tls

#include "tls/detail/openssl_error.h"

#include <openssl/err.h>

namespace rf::tls::detail {

std::string OpenSslReason() {
  const unsigned long e = ERR_peek_last_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace rf::tls::detail

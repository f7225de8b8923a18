#pragma once
// Private to tls/: OpenSSL's last error as text, for the messages of Load/Build failures.

#include <string>

namespace rf::tls::detail {

// "error:0A000086:SSL routines::certificate verify failed" (or "unknown error"); clears the
// thread's OpenSSL error queue.
std::string OpenSslReason();

}  // namespace rf::tls::detail

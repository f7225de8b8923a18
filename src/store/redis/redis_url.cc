#include "store/redis/redis_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <climits>

namespace rf::store::redis {
namespace {

constexpr std::string_view kScheme = "redis://";
constexpr std::string_view kTlsScheme = "rediss://";
constexpr std::string_view kShape =
    "expected redis://[[user]:password@]host[:port][/db] (rediss:// for TLS)";

Error Invalid(std::string why) { return Error{Errc::kInvalidArgument, std::move(why)}; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes user info; `what` names the part in errors.
Result<std::string> Decode(std::string_view s, const char* what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 2 < s.size() ? HexDigit(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Invalid(std::string("bad percent-encoding in the ") + what +
                       " (a '%' must be followed by two hex digits; write '%' itself as %25)");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      return Invalid(std::string("the ") + what +
                     " contains a space or control character (percent-encode it)");
    }
    out += c;
  }
  return out;
}

bool HostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

template <class T>
bool ParseNumber(std::string_view s, T& out) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

}  // namespace

std::string RedisUrl::Endpoint() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<RedisUrl> ParseRedisUrl(std::string_view url) {
  if (url.empty()) return Invalid("empty; " + std::string(kShape));
  if (url.starts_with("unix://") || url.starts_with("redis+unix://") ||
      url.starts_with("redis-socket://")) {
    return Invalid("unix sockets are not supported; " + std::string(kShape));
  }
  const bool tls = url.starts_with(kTlsScheme);
  if (!tls && !url.starts_with(kScheme)) return Invalid(std::string(kShape));
  std::string_view rest = url.substr(tls ? kTlsScheme.size() : kScheme.size());
  for (char c : rest) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Invalid("contains a control character");
    }
  }
  if (rest.find('#') != std::string_view::npos) return Invalid("a '#fragment' is not allowed");
  if (rest.find('?') != std::string_view::npos) {
    return Invalid("query parameters ('?...') are not supported; " + std::string(kShape));
  }

  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

  RedisUrl out;
  out.tls = tls;
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    if (info.find('@') != std::string_view::npos) {
      return Invalid("more than one '@': percent-encode '@' in a user name or password as %40");
    }
    const size_t colon = info.find(':');
    if (colon == std::string_view::npos) {
      return Invalid(info.empty() ? "'@' without user or password; " + std::string(kShape)
                                  : "a user name needs a password (redis://user:password@host); "
                                    "for a password alone write redis://:password@host");
    }
    auto user = Decode(info.substr(0, colon), "user name");
    if (!user) return user.error();
    auto password = Decode(info.substr(colon + 1), "password");
    if (!password) return password.error();
    if (password->empty() && user->empty()) return Invalid("empty password after ':'");
    out.user = std::move(*user);
    out.password = std::move(*password);
    out.auth = true;
  }

  std::string_view host = authority;
  std::string_view port;
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return Invalid("unterminated '[' in the host");
    std::string_view after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    std::string literal(host);
    in6_addr scratch;
    if (inet_pton(AF_INET6, literal.c_str(), &scratch) != 1) {
      return Invalid("'[" + literal + "]' is not an IPv6 address");
    }
    if (!after.empty()) {
      if (after.front() != ':') return Invalid("expected ':port' after ']'");
      port = after.substr(1);
      if (port.empty()) return Invalid("empty port after ':'");
    }
  } else {
    if (std::count(host.begin(), host.end(), ':') > 1) {
      return Invalid("IPv6 addresses go in brackets: redis://[::1]:6379");
    }
    const size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (port.empty()) return Invalid("empty port after ':'");
    }
    if (host.empty()) return Invalid("missing host; " + std::string(kShape));
    if (host.size() > 253) return Invalid("host name longer than 253 characters");
    for (char c : host) {
      if (!HostNameChar(c)) {
        return Invalid("invalid character '" + std::string(1, c) +
                       "' in the host (IPv6 addresses go in brackets: redis://[::1]:6379)");
      }
    }
  }
  out.host = std::string(host);
  if (!port.empty()) {
    uint32_t p = 0;
    if (!ParseNumber(port, p) || p == 0 || p > 65535) {
      return Invalid("port '" + std::string(port) + "' must be a number 1-65535");
    }
    out.port = static_cast<uint16_t>(p);
  }

  if (!path.empty()) {
    if (path.find('/') != std::string_view::npos) {
      return Invalid("unexpected path after the database number; " + std::string(kShape));
    }
    int64_t db = 0;
    if (!ParseNumber(path, db) || db > INT_MAX) {
      return Invalid("database '" + std::string(path) + "' must be a number 0-2147483647");
    }
    out.db = static_cast<int>(db);
  }
  return out;
}

std::string RedactRedisUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t at = url.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const size_t from = scheme == std::string_view::npos ? 0 : scheme + 3;
  if (at < from) return std::string(url);
  return std::string(url.substr(0, from)) + "***" + std::string(url.substr(at));
}

}  // namespace rf::store::redis

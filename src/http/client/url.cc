#include "http/client/url.h"

#include <arpa/inet.h>

#include <charconv>

namespace rf::http::client {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool IStartsWith(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// Visible ASCII: what may go on the request line unchanged.
bool IsTargetChar(char c) { return c > 0x20 && c < 0x7f; }

Error Invalid(std::string what) { return Error{Errc::kInvalidArgument, std::move(what)}; }

Result<uint16_t> ParsePort(std::string_view s, bool tls) {
  if (s.empty()) return static_cast<uint16_t>(tls ? 443 : 80);
  unsigned v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v == 0 || v > 65535 || s.size() > 5) {
    return Invalid("invalid port in URL");
  }
  return static_cast<uint16_t>(v);
}

}  // namespace

Result<Url> ParseUrl(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return Invalid("URL longer than 8 KiB");
  const bool tls = IStartsWith(url, "https://");
  if (!tls && !IStartsWith(url, "http://")) return Invalid("unsupported URL scheme (want http:// or https://)");
  url.remove_prefix(tls ? 8 : 7);

  const size_t authority_end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, authority_end);
  std::string_view rest =
      authority_end == std::string_view::npos ? std::string_view() : url.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return Invalid("credentials in URL are not allowed");
  }

  Url out;
  out.tls = tls;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Invalid("unterminated IPv6 address in URL");
    const std::string literal(authority.substr(1, close - 1));
    in6_addr ignored;
    if (inet_pton(AF_INET6, literal.c_str(), &ignored) != 1) {
      return Invalid("invalid IPv6 address in URL");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return Invalid("invalid authority in URL");
    if (!after.empty()) port = after.substr(1);
    out.host = literal;
  } else {
    const size_t colon = authority.find(':');
    const std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (host.empty()) return Invalid("missing host in URL");
    for (char c : host) {
      if (!IsNameChar(c)) return Invalid("invalid character in URL host");
    }
    out.host.reserve(host.size());
    for (char c : host) out.host.push_back(Lower(c));
  }
  auto p = ParsePort(port, tls);
  if (!p) return p.error();
  out.port = *p;

  rest = rest.substr(0, rest.find('#'));
  for (char c : rest) {
    if (!IsTargetChar(c)) return Invalid("invalid character in URL path or query");
  }
  if (rest.empty() || rest.front() == '?') out.target = "/";
  out.target.append(rest);
  return out;
}

std::string HostHeaderValue(const Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  std::string s;
  s.reserve(url.host.size() + 8);
  if (v6) s += '[';
  s += url.host;
  if (v6) s += ']';
  if (url.port != (url.tls ? 443 : 80)) {
    s += ':';
    s += std::to_string(url.port);
  }
  return s;
}

}  // namespace rf::http::client

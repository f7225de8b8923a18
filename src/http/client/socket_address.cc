#include "http/client/socket_address.h"

#include <arpa/inet.h>

namespace rf::http::client {

void SocketAddress::SetPort(uint16_t port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  }
}

std::string SocketAddress::IpText() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) return inet_ntop(AF_INET, &v4(), buf, sizeof buf) ? buf : "?";
  if (family() == AF_INET6) return inet_ntop(AF_INET6, &v6(), buf, sizeof buf) ? buf : "?";
  return "?";
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET) {
    return IpText() + ":" +
           std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port));
  }
  if (family() == AF_INET6) {
    return "[" + IpText() +
           "]:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port));
  }
  return "?";
}

SocketAddress SocketAddress::V4(uint32_t host_order) {
  SocketAddress out;
  auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(host_order);
  out.len = sizeof(sockaddr_in);
  return out;
}

SocketAddress SocketAddress::V6(const in6_addr& a) {
  SocketAddress out;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_addr = a;
  out.len = sizeof(sockaddr_in6);
  return out;
}

namespace {

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// One part of a legacy IPv4 spelling: its value, or nullopt (empty, bad digit, over 32 bits).
std::optional<uint64_t> ParsePart(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const int d = DigitValue(c);
    if (d >= base) return std::nullopt;
    v = v * base + d;
    if (v > 0xffffffffull) return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<uint32_t> ParseLegacyIPv4(std::string_view host) {
  uint64_t parts[4];
  size_t n = 0;
  while (true) {
    const size_t dot = host.find('.');
    if (n == 4) return std::nullopt;
    auto v = ParsePart(host.substr(0, dot));
    if (!v) return std::nullopt;
    parts[n++] = *v;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  // Every part but the last is one byte; the last fills the 4 - (n - 1) bytes left.
  uint32_t out = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    out |= static_cast<uint32_t>(parts[i]) << (24 - 8 * i);
  }
  const unsigned last_bits = 32 - 8 * static_cast<unsigned>(n - 1);
  if (last_bits < 32 && parts[n - 1] >> last_bits) return std::nullopt;
  return out | static_cast<uint32_t>(parts[n - 1]);
}

std::optional<SocketAddress> ParseIpLiteral(std::string_view host) {
  const std::string text(host);
  in_addr a4;
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) return SocketAddress::V4(ntohl(a4.s_addr));
  if (auto legacy = ParseLegacyIPv4(host)) return SocketAddress::V4(*legacy);
  in6_addr a6;
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) return SocketAddress::V6(a6);
  return std::nullopt;
}

}  // namespace rf::http::client

#pragma once
// SocketAddress: an IPv4 or IPv6 socket address as the client resolves, judges and connects to it.
// Pure; any thread.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rf::http::client {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;

  int family() const { return storage.ss_family; }
  void SetPort(uint16_t port);
  std::string ToString() const;  // "1.2.3.4:80", "[::1]:80"
  std::string IpText() const;    // "1.2.3.4", "::1": the address without its port

  static SocketAddress V4(uint32_t host_order);
  static SocketAddress V6(const in6_addr& a);
  const in_addr& v4() const { return reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr; }
  const in6_addr& v6() const { return reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr; }
};

// The IPv4 address a host name denotes in the classic inet_aton grammar that libc resolvers
// (getaddrinfo, inet_aton) accept besides dotted-quad: 1 to 4 parts, each decimal, octal (leading
// 0) or hex (0x), the last part filling the remaining bytes. "2130706433", "0177.0.0.1",
// "0x7f.1" and "127.1" all denote 127.0.0.1. Returns the address in host byte order, nullopt for
// anything else (a name, an out-of-range part, a digit that is not of the part's base).
std::optional<uint32_t> ParseLegacyIPv4(std::string_view host);

// Parses an IP literal: dotted-quad or a legacy spelling (ParseLegacyIPv4) for IPv4, RFC 4291
// text for IPv6 (no brackets, no zone id). Port 0. nullopt for anything else.
std::optional<SocketAddress> ParseIpLiteral(std::string_view host);

}  // namespace rf::http::client

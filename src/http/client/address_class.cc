#include "http/client/address_class.h"

#include <arpa/inet.h>

namespace rf::http::client {
namespace {

bool In4(uint32_t a, uint32_t net, unsigned prefix) {
  return prefix == 0 || (a >> (32 - prefix)) == (net >> (32 - prefix));
}

AddressVerdict Is(AddressClass c, const char* what) { return AddressVerdict{c, what, nullptr, 0}; }

uint32_t Word(const in6_addr& a, size_t byte) {
  return static_cast<uint32_t>(a.s6_addr[byte]) << 24 |
         static_cast<uint32_t>(a.s6_addr[byte + 1]) << 16 |
         static_cast<uint32_t>(a.s6_addr[byte + 2]) << 8 | a.s6_addr[byte + 3];
}

bool ZeroBytes(const in6_addr& a, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (a.s6_addr[i] != 0) return false;
  return true;
}

AddressVerdict Carried(const char* via, uint32_t v4) {
  AddressVerdict v = ClassifyV4(v4);
  v.via = via;
  v.embedded_v4 = v4;
  return v;
}

AddressVerdict ClassifyV6(const in6_addr& a) {
  const uint8_t* b = a.s6_addr;
  if (ZeroBytes(a, 0, 12)) {
    const uint32_t low = Word(a, 12);
    if (low == 0) return Is(AddressClass::kUnspecified, "unspecified");
    if (low == 1) return Is(AddressClass::kLoopback, "loopback");
    return Is(AddressClass::kReserved, "reserved (deprecated IPv4-compatible ::/96)");
  }
  if (uint32_t v4; MappedV4(a, v4)) return Carried("IPv4-mapped", v4);
  // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765): judged like the mapped form.
  if (ZeroBytes(a, 0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    return Carried("IPv4-translated", Word(a, 12));
  }
  if (b[0] == 0xff) return Is(AddressClass::kMulticast, "multicast");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return Is(AddressClass::kLinkLocal, "link-local");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
    return Is(AddressClass::kPrivate, "private (deprecated site-local fec0::/10)");
  }
  if ((b[0] & 0xfe) == 0xfc) return Is(AddressClass::kUniqueLocal, "unique-local");
  // 64:ff9b::/96 (RFC 6052) and 64:ff9b:1::/48 (RFC 8215).
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (ZeroBytes(a, 4, 12)) return Carried("NAT64", Word(a, 12));
    if (b[4] == 0x00 && b[5] == 0x01)
      return Is(AddressClass::kPrivate, "private (local-use NAT64)");
  }
  if (b[0] == 0x20 && b[1] == 0x02) return Carried("6to4", Word(a, 2));
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) {
    return Carried("Teredo", ~Word(a, 12));
  }
  return Is(AddressClass::kPublic, "public");
}

}  // namespace

const char* AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kUniqueLocal:
      return "unique-local";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kBroadcast:
      return "broadcast";
    case AddressClass::kReserved:
      return "reserved";
  }
  return "unknown";
}

std::string AddressVerdict::Describe() const {
  std::string s = what;
  if (via != nullptr) {
    s += " (";
    s += via;
    s += ' ';
    s += SocketAddress::V4(embedded_v4).IpText();
    s += ')';
  }
  return s;
}

bool MappedV4(const in6_addr& a, uint32_t& host_order) {
  if (!ZeroBytes(a, 0, 10) || a.s6_addr[10] != 0xff || a.s6_addr[11] != 0xff) return false;
  host_order = Word(a, 12);
  return true;
}

AddressVerdict ClassifyV4(uint32_t a) {
  if (a == 0xffffffffu) return Is(AddressClass::kBroadcast, "broadcast");
  if (In4(a, 0x00000000, 8)) return Is(AddressClass::kUnspecified, "unspecified");
  if (In4(a, 0x7f000000, 8)) return Is(AddressClass::kLoopback, "loopback");
  if (a == 0xa9fea9feu) return Is(AddressClass::kLinkLocal, "link-local (cloud metadata endpoint)");
  if (In4(a, 0xa9fe0000, 16)) return Is(AddressClass::kLinkLocal, "link-local");
  if (In4(a, 0x0a000000, 8) || In4(a, 0xac100000, 12) || In4(a, 0xc0a80000, 16)) {
    return Is(AddressClass::kPrivate, "private");
  }
  if (In4(a, 0x64400000, 10)) return Is(AddressClass::kPrivate, "private (CGNAT shared space)");
  if (In4(a, 0xe0000000, 4)) return Is(AddressClass::kMulticast, "multicast");
  if (In4(a, 0xf0000000, 4)) return Is(AddressClass::kReserved, "reserved (240.0.0.0/4)");
  return Is(AddressClass::kPublic, "public");
}

AddressVerdict ClassifyAddress(const SocketAddress& address) {
  if (address.family() == AF_INET) return ClassifyV4(ntohl(address.v4().s_addr));
  if (address.family() == AF_INET6) return ClassifyV6(address.v6());
  return Is(AddressClass::kReserved, "not an IP address");
}

}  // namespace rf::http::client

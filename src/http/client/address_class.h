#pragma once
// ClassifyAddress: which kind of destination an IP address is, for the egress policy
// (egress_policy.h). Pure; any thread.
//
// IPv4: 0.0.0.0/8 unspecified ("this network"), 10/8, 172.16/12 and 192.168/16 private,
// 100.64/10 private (CGNAT shared space), 127/8 loopback, 169.254/16 link-local (169.254.169.254:
// the cloud metadata endpoint), 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast;
// everything else public.
// IPv6: :: unspecified, ::1 loopback, fe80::/10 link-local, fec0::/10 site-local (deprecated,
// private), fc00::/7 unique-local, ff00::/8 multicast, ::/96 IPv4-compatible (deprecated,
// reserved), 64:ff9b:1::/48 local-use NAT64 (private). Forms that carry an IPv4 address are
// judged by it: IPv4-mapped ::ffff:a.b.c.d (connects to a.b.c.d on a dual-stack socket),
// IPv4-translated ::ffff:0:a.b.c.d, NAT64
// 64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::/48 and Teredo 2001:0::/32 (the client address, the
// last 32 bits inverted). Everything else public.

#include <cstdint>
#include <string>

#include "http/client/socket_address.h"

namespace rf::http::client {

enum class AddressClass : uint8_t {
  kPublic,
  kLoopback,
  kLinkLocal,
  kPrivate,
  kUniqueLocal,
  kMulticast,
  kUnspecified,
  kBroadcast,
  kReserved,
};

// "public", "loopback", "link-local", ...
const char* AddressClassName(AddressClass c);

struct AddressVerdict {
  AddressClass cls = AddressClass::kPublic;
  const char* what = "public";  // the range, for messages: "loopback", "private (CGNAT)", ...
  // Set when an IPv6 address was judged by the IPv4 address it carries.
  const char* via = nullptr;  // "IPv4-mapped", "IPv4-translated", "NAT64", "6to4", "Teredo"
  uint32_t embedded_v4 = 0;   // that IPv4 address, host byte order

  bool is_public() const { return cls == AddressClass::kPublic; }
  // "loopback", "loopback (IPv4-mapped 127.0.0.1)".
  std::string Describe() const;
};

AddressVerdict ClassifyV4(uint32_t host_order);
AddressVerdict ClassifyAddress(const SocketAddress& address);  // AF_INET or AF_INET6

// The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d) carries; false for anything else.
bool MappedV4(const in6_addr& a, uint32_t& host_order);

}  // namespace rf::http::client

#pragma once
// EgressPolicy: which addresses the outbound client may connect to (issue 12, outbound policy).
//
// By default (deny-private) every address that ClassifyAddress (address_class.h) does not call
// public is denied: loopback, link-local (169.254.169.254 included), private and CGNAT, unique-
// local, multicast, unspecified, broadcast, reserved, and IPv6 forms carrying such an IPv4
// address (IPv4-mapped, NAT64, 6to4, Teredo). An allowlist re-admits some of them:
//   - CIDRs and single addresses: "10.1.0.0/16", "127.0.0.1", "fd00::/8". An IPv4 CIDR also
//     admits the IPv4-mapped IPv6 form of its addresses (::ffff:127.0.0.1 under 127.0.0.1/32).
//   - host patterns, matched against the URL's host name (case-insensitive, one trailing dot
//     ignored): "localhost" (exactly that name), "*.internal.example.com" (any name below it, at
//     any depth, not the name itself). A matching name may connect to whatever it resolves to:
//     the operator trusts that name's DNS. Prefer CIDRs where the addresses are known.
// allow-all turns the check off.
//
// The check is made by the client on every address it is about to connect to, after DNS
// (connector.h), so a name that resolves to a denied address (DNS rebinding included) is refused
// as surely as a literal. The client follows no redirects; it would have to check each hop.
//
// Immutable once built, so one policy may be shared by every shard (read-only). The daemon has
// one (--egress-allow, --egress-policy); a request may carry another (client::Request::egress),
// which is how a namespace will carry its own once namespaces exist. A policy's id() keeps
// pooled connections of different policies apart.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/client/socket_address.h"

namespace rf::http::client {

enum class EgressMode : uint8_t { kDenyPrivate, kAllowAll };

class EgressPolicy {
 public:
  // deny-private with an empty allowlist.
  EgressPolicy();

  // Parses a comma-separated allowlist (whitespace around entries is ignored; an empty list
  // allows nothing more). Errors: kInvalidArgument naming the entry and what is wrong with it
  // (an empty entry, a port, host bits set in a CIDR, a prefix out of range, a name that is
  // neither an address nor a host pattern, "*").
  static Result<EgressPolicy> Parse(std::string_view allow_list,
                                    EgressMode mode = EgressMode::kDenyPrivate);

  // "deny-private" | "allow-all"; kInvalidArgument for anything else.
  static Result<EgressMode> ParseMode(std::string_view text);

  // Whether the client may connect to `address`, which `host` (the URL's host, lower-case) is or
  // resolved to. Errors: kEgressDenied, e.g. "127.0.0.1 (host 'localhost') is loopback; allow it
  // with --egress-allow".
  Status Check(std::string_view host, const SocketAddress& address) const;

  EgressMode mode() const { return mode_; }
  uint64_t id() const { return id_; }
  // For the start-up log: "deny-private, allow 127.0.0.1/32 localhost" / "allow-all".
  std::string Describe() const;

  struct Cidr {
    int family = 0;  // AF_INET or AF_INET6
    uint8_t bytes[16] = {};
    unsigned prefix = 0;
    bool Contains(const SocketAddress& a) const;
  };
  struct HostPattern {
    std::string name;  // without the "*." of a wildcard
    bool wildcard = false;
    bool Matches(std::string_view host) const;
  };

 private:
  EgressMode mode_ = EgressMode::kDenyPrivate;
  uint64_t id_;
  std::vector<Cidr> cidrs_;
  std::vector<HostPattern> hosts_;
  std::vector<std::string> entries_;  // as given, normalised, for Describe()
};

}  // namespace rf::http::client

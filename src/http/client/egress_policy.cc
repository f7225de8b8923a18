#include "http/client/egress_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>

#include "http/client/address_class.h"

namespace rf::http::client {
namespace {

constexpr size_t kMaxNameBytes = 253;
constexpr size_t kMaxLabelBytes = 63;

std::atomic<uint64_t> g_next_id{1};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Error Bad(std::string_view entry, std::string_view why) {
  return Error{Errc::kInvalidArgument, "entry '" + std::string(entry) + "': " + std::string(why)};
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool IsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return out;
}

// The bits of `bytes` past `prefix` (of `total` bytes) are all zero.
bool HostBitsClear(const uint8_t* bytes, size_t total, unsigned prefix) {
  for (size_t i = 0; i < total; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    uint8_t host_mask = 0xff;
    if (first_bit + 8 <= prefix) continue;
    if (first_bit < prefix) host_mask = static_cast<uint8_t>(0xff >> (prefix - first_bit));
    if (bytes[i] & host_mask) return false;
  }
  return true;
}

void ClearHostBits(uint8_t* bytes, size_t total, unsigned prefix) {
  for (size_t i = 0; i < total; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (first_bit + 8 <= prefix) continue;
    bytes[i] &= first_bit < prefix ? static_cast<uint8_t>(0xff << (8 - (prefix - first_bit))) : 0;
  }
}

bool PrefixEqual(const uint8_t* a, const uint8_t* b, unsigned prefix) {
  const size_t whole = prefix / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

// An address or CIDR entry: "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8".
Result<EgressPolicy::Cidr> ParseCidr(std::string_view entry) {
  const size_t slash = entry.find('/');
  const std::string addr(entry.substr(0, slash));
  EgressPolicy::Cidr c;
  size_t total = 0;
  if (inet_pton(AF_INET, addr.c_str(), c.bytes) == 1) {
    c.family = AF_INET;
    total = 4;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes) == 1) {
    c.family = AF_INET6;
    total = 16;
  } else if (std::count(addr.begin(), addr.end(), ':') == 1) {  // IPv6 has at least two
    return Bad(entry, "a port is not allowed (give the address or CIDR only)");
  } else {
    return Bad(entry, "not an IP address or CIDR (IPv4 as a.b.c.d, IPv6 without brackets)");
  }
  const unsigned max_prefix = static_cast<unsigned>(total * 8);
  c.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view p = entry.substr(slash + 1);
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (!AllDigits(p) || ec != std::errc() || ptr != p.data() + p.size() || v > max_prefix) {
      return Bad(entry, "the prefix length must be 0.." + std::to_string(max_prefix));
    }
    c.prefix = v;
  }
  if (!HostBitsClear(c.bytes, total, c.prefix)) {
    uint8_t net[16];
    std::memcpy(net, c.bytes, sizeof net);
    ClearHostBits(net, total, c.prefix);
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(c.family, net, text, sizeof text);
    return Bad(entry, "has bits set past the prefix (did you mean " + std::string(text) + "/" +
                          std::to_string(c.prefix) + "?)");
  }
  return c;
}

// A host pattern entry: "localhost", "api.example.com", "*.internal.example.com".
Result<EgressPolicy::HostPattern> ParseHostPattern(std::string_view entry) {
  EgressPolicy::HostPattern h;
  std::string name = Lower(entry);
  if (name == "*") {
    return Bad(entry, "'*' would allow every address; use --egress-policy allow-all for that");
  }
  if (name.starts_with("*.")) {
    h.wildcard = true;
    name.erase(0, 2);
  }
  if (name.empty() || name.size() > kMaxNameBytes) return Bad(entry, "not a valid host name");
  std::string_view rest = name;
  std::string_view last;
  while (true) {
    const size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelBytes) {
      return Bad(entry, "not a valid host name (an empty or over-long label)");
    }
    for (char c : label) {
      if (c == '*')
        return Bad(entry, "'*' is allowed only as a whole first label ('*.example.com')");
      if (!IsLabelChar(c)) {
        return Bad(entry, "not an IP address, CIDR or host name (a port is not allowed)");
      }
    }
    last = label;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  // "1.2.3", "2130706433", "0x7f.1": spellings of an IPv4 address, never names.
  if (AllDigits(last) || ParseLegacyIPv4(name)) {
    return Bad(entry, "not an IP address (write IPv4 as a.b.c.d) nor a host name");
  }
  h.name = std::move(name);
  return h;
}

}  // namespace

EgressPolicy::EgressPolicy() : id_(g_next_id.fetch_add(1, std::memory_order_relaxed)) {}

bool EgressPolicy::Cidr::Contains(const SocketAddress& a) const {
  if (family == AF_INET) {
    uint32_t v4 = 0;
    if (a.family() == AF_INET) {
      v4 = ntohl(a.v4().s_addr);
    } else if (a.family() != AF_INET6 || !MappedV4(a.v6(), v4)) {
      return false;
    }
    const uint8_t b[4] = {static_cast<uint8_t>(v4 >> 24), static_cast<uint8_t>(v4 >> 16),
                          static_cast<uint8_t>(v4 >> 8), static_cast<uint8_t>(v4)};
    return PrefixEqual(b, bytes, prefix);
  }
  return a.family() == AF_INET6 && PrefixEqual(a.v6().s6_addr, bytes, prefix);
}

bool EgressPolicy::HostPattern::Matches(std::string_view host) const {
  if (host.ends_with('.')) host.remove_suffix(1);
  if (!wildcard) return host == name;
  return host.size() > name.size() + 1 && host.ends_with(name) &&
         host[host.size() - name.size() - 1] == '.';
}

Result<EgressMode> EgressPolicy::ParseMode(std::string_view text) {
  if (text == "deny-private") return EgressMode::kDenyPrivate;
  if (text == "allow-all") return EgressMode::kAllowAll;
  return Error{Errc::kInvalidArgument, "expected deny-private or allow-all"};
}

Result<EgressPolicy> EgressPolicy::Parse(std::string_view allow_list, EgressMode mode) {
  EgressPolicy p;
  p.mode_ = mode;
  if (Trim(allow_list).empty()) return p;
  while (true) {
    const size_t comma = allow_list.find(',');
    const std::string_view entry = Trim(allow_list.substr(0, comma));
    if (entry.empty()) {
      return Error{Errc::kInvalidArgument,
                   "an empty entry (two commas in a row, or one at an end)"};
    }
    const bool numeric = entry.find_first_of(":/") != std::string_view::npos ||
                         entry.find_first_not_of("0123456789.") == std::string_view::npos;
    if (numeric) {
      auto c = ParseCidr(entry);
      if (!c) return c.error();
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(c->family, c->bytes, text, sizeof text);
      p.entries_.push_back(std::string(text) + "/" + std::to_string(c->prefix));
      p.cidrs_.push_back(*c);
    } else {
      auto h = ParseHostPattern(entry);
      if (!h) return h.error();
      p.entries_.push_back((h->wildcard ? "*." : "") + h->name);
      p.hosts_.push_back(std::move(*h));
    }
    if (comma == std::string_view::npos) break;
    allow_list.remove_prefix(comma + 1);
  }
  return p;
}

Status EgressPolicy::Check(std::string_view host, const SocketAddress& address) const {
  if (mode_ == EgressMode::kAllowAll) return {};
  const AddressVerdict verdict = ClassifyAddress(address);
  if (verdict.is_public()) return {};
  for (const Cidr& c : cidrs_)
    if (c.Contains(address)) return {};
  for (const HostPattern& h : hosts_)
    if (h.Matches(host)) return {};
  const std::string ip = address.IpText();
  std::string msg = ip;
  if (!host.empty() && host != ip) {
    msg += " (host '";
    msg += host;
    msg += "')";
  }
  msg += " is " + verdict.Describe() + "; allow it with --egress-allow";
  return Error{Errc::kEgressDenied, std::move(msg)};
}

std::string EgressPolicy::Describe() const {
  if (mode_ == EgressMode::kAllowAll) return "allow-all";
  std::string s = "deny-private";
  if (entries_.empty()) return s;
  s += ", allow";
  for (const std::string& e : entries_) s += " " + e;
  return s;
}

}  // namespace rf::http::client

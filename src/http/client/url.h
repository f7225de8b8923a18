#pragma once
// Url: the parts of an "http://" or "https://" URL that an outbound request needs. Pure; any
// thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::http::client {

constexpr size_t kMaxUrlBytes = 8 * 1024;

struct Url {
  std::string host;  // lower-cased name, IPv4 literal, or IPv6 literal without brackets
  uint16_t port = 80;  // 443 for https:// without a port
  bool tls = false;    // https://
  std::string target;  // origin-form request-target: "/path?query", never empty; no fragment

  bool operator==(const Url&) const = default;
};

// Parses an absolute "http[s]://host[:port][/path][?query][#fragment]" URL (scheme and host are
// case-insensitive; the host is lower-cased). Errors are all kInvalidArgument:
//  - any scheme but http:// and https:// is unsupported;
//  - userinfo ("user:pass@") is rejected (credentials go in headers, never in URLs that are
//    logged);
//  - the host must be a DNS name (letters, digits, '-', '.', '_'), an IPv4 literal, or an IPv6
//    literal in brackets ("[::1]", no zone id); the port 1..65535 (empty means 80, or 443);
//  - path and query keep their percent-encoding and may contain only visible ASCII (callers
//    percent-encode anything else); the fragment is dropped, as a user agent does;
//  - at most kMaxUrlBytes bytes.
Result<Url> ParseUrl(std::string_view url);

// "host" or "host:port" (IPv6 in brackets), for the Host header: the port is left out when it is
// the scheme's default (80, 443), as RFC 9110 §7.2 allows.
std::string HostHeaderValue(const Url& url);

}  // namespace rf::http::client

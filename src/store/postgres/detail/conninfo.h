#pragma once
// Private to store/postgres: libpq connection parameters (a URL or key=value conninfo) and the
// host name lookups PgConn makes itself, on a helper thread, so that libpq never calls
// getaddrinfo on a shard. Pure but for ResolveNames (blocking DNS) and the environment read by
// Effective.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace rf::store::pg::detail::conninfo {

using Params = std::vector<std::pair<std::string, std::string>>;

bool IsIpLiteral(const std::string& host);
// libpq's comma-separated lists ("a,b"), and back.
std::vector<std::string> SplitList(const std::string& s);
std::string JoinList(const std::vector<std::string>& items);

const std::string* Find(const Params& params, std::string_view key);
void Set(Params& params, std::string_view key, std::string value);
// The explicit value of `key`, else libpq's environment fallback.
std::string Effective(const Params& params, std::string_view key, const char* env);
// kInvalidArgument with libpq's reason when `url` does not parse.
Result<Params> ParseConninfo(const std::string& url);

// One entry of libpq's host list: host (a name, an IP literal, a socket directory or empty),
// hostaddr (an IP literal or empty) and port (empty: the default).
struct Endpoint {
  std::string host;
  std::string hostaddr;
  std::string port;
  bool NeedsLookup() const {
    return hostaddr.empty() && !host.empty() && host[0] != '/' && host[0] != '@' &&
           !IsIpLiteral(host);
  }
};

// libpq's host/hostaddr/port lists as endpoints; empty when the lists do not line up (libpq
// then reports the mismatch itself) or name no host at all (the default socket).
std::vector<Endpoint> Endpoints(const Params& params);

struct Resolved {
  std::vector<std::vector<std::string>> addresses;  // per name; empty when it did not resolve
  std::string first_error;
};

// On a helper thread: getaddrinfo blocks.
Resolved ResolveNames(const std::vector<std::string>& names);

// Replaces every endpoint that names a host by one endpoint per address (hostaddr), so that
// libpq never calls getaddrinfo itself.
Status ResolveHosts(Params& params, std::vector<Endpoint> endpoints, const Resolved& resolved);

}  // namespace rf::store::pg::detail::conninfo

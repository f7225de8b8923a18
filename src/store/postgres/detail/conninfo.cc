#include "store/postgres/detail/conninfo.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "store/postgres/detail/text.h"

namespace rf::store::pg::detail::conninfo {

constexpr size_t kMaxAddressesPerHost = 8;

bool IsIpLiteral(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
  return out;
}

// ---- connection parameters -------------------------------------------------------------

const std::string* Find(const Params& params, std::string_view key) {
  for (const auto& [k, v] : params) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Set(Params& params, std::string_view key, std::string value) {
  for (auto& [k, v] : params) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  params.emplace_back(std::string(key), std::move(value));
}

// The explicit value of `key`, else libpq's environment fallback.
std::string Effective(const Params& params, std::string_view key, const char* env) {
  if (const std::string* v = Find(params, key)) return *v;
  const char* e = std::getenv(env);
  return e != nullptr ? std::string(e) : std::string();
}

Result<Params> ParseConninfo(const std::string& url) {
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &errmsg);
  if (options == nullptr) {
    std::string why = errmsg != nullptr ? std::string(Trim(errmsg)) : "out of memory";
    if (errmsg != nullptr) PQfreemem(errmsg);
    return Error{Errc::kInvalidArgument, "bad PostgreSQL URL: " + why};
  }
  Params params;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) params.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(options);
  if (Find(params, "service") != nullptr) {
    return Error{Errc::kInvalidArgument,
                 "bad PostgreSQL URL: service= is not supported; give host and port"};
  }
  if (Find(params, "gssencmode") == nullptr) Set(params, "gssencmode", "disable");
  return params;
}

// libpq's host/hostaddr/port lists as endpoints; empty when the lists do not line up (libpq
// then reports the mismatch itself) or name no host at all (the default socket).
std::vector<Endpoint> Endpoints(const Params& params) {
  const std::vector<std::string> hosts = SplitList(Effective(params, "host", "PGHOST"));
  const std::vector<std::string> addrs = SplitList(Effective(params, "hostaddr", "PGHOSTADDR"));
  const std::vector<std::string> ports = SplitList(Effective(params, "port", "PGPORT"));
  const size_t n = std::max(hosts.size(), addrs.size());
  if (n == 0) return {};
  if ((!hosts.empty() && hosts.size() != n) || (!addrs.empty() && addrs.size() != n)) return {};
  if (ports.size() > 1 && ports.size() != n) return {};
  std::vector<Endpoint> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (!hosts.empty()) out[i].host = hosts[i];
    if (!addrs.empty()) out[i].hostaddr = addrs[i];
    if (ports.size() == 1) out[i].port = ports[0];
    if (ports.size() == n) out[i].port = ports[i];
  }
  return out;
}

// On a helper thread: getaddrinfo blocks.
Resolved ResolveNames(const std::vector<std::string>& names) {
  Resolved out;
  for (const std::string& name : names) {
    std::vector<std::string>& list = out.addresses.emplace_back();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* ai_list = nullptr;
    const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &ai_list);
    if (rc != 0) {
      if (out.first_error.empty()) {
        out.first_error = "cannot resolve '" + name +
                          "': " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
      }
      continue;
    }
    for (addrinfo* ai = ai_list; ai != nullptr && list.size() < kMaxAddressesPerHost;
         ai = ai->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src = nullptr;
      if (ai->ai_family == AF_INET) {
        src = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
      } else if (ai->ai_family == AF_INET6) {
        src = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
      } else {
        continue;
      }
      if (inet_ntop(ai->ai_family, src, buf, sizeof buf) == nullptr) continue;
      if (std::find(list.begin(), list.end(), buf) == list.end()) list.emplace_back(buf);
    }
    freeaddrinfo(ai_list);
    if (list.empty() && out.first_error.empty()) {
      out.first_error = "no IPv4/IPv6 address for '" + name + "'";
    }
  }
  return out;
}

// Replaces every endpoint that names a host by one endpoint per address (hostaddr), so that
// libpq never calls getaddrinfo itself.
Status ResolveHosts(Params& params, std::vector<Endpoint> endpoints, const Resolved& resolved) {
  std::vector<std::string> hosts, addrs, ports;
  size_t next = 0;
  for (const Endpoint& e : endpoints) {
    if (!e.NeedsLookup()) {
      hosts.push_back(e.host);
      addrs.push_back(e.hostaddr);
      ports.push_back(e.port);
      continue;
    }
    for (const std::string& a : resolved.addresses[next]) {
      hosts.push_back(e.host);
      addrs.push_back(a);
      ports.push_back(e.port);
    }
    ++next;
  }
  if (hosts.empty()) return Error{Errc::kUnavailable, "postgres connect: " + resolved.first_error};
  Set(params, "host", JoinList(hosts));
  Set(params, "hostaddr", JoinList(addrs));
  Set(params, "port", JoinList(ports));
  return {};
}

}  // namespace rf::store::pg::detail::conninfo

#pragma once
// Resolver: host name -> socket addresses for the outbound client, one per shard.
//
// Numeric hosts (IPv4, IPv6, and the legacy IPv4 spellings of ParseLegacyIPv4) resolve at once
// without a lookup. Names are resolved with
// getaddrinfo on an Offload helper thread (it blocks: never on the shard) and cached for `ttl`;
// concurrent lookups of one name share a single getaddrinfo call. Failures are not cached.
//
// Shard-local: used only on the thread of the shard that created it. A lookup whose callers all
// gave up (deadline, cancel) still completes in the background and fills the cache; it keeps the
// cache alive on its own, so the Resolver may be destroyed meanwhile.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/client/socket_address.h"
#include "http/client/watchdog.h"
#include "reactor/task.h"

namespace rf::http::client {

// Upper bounds: addresses kept per name, names cached per shard.
constexpr size_t kMaxAddressesPerHost = 8;
constexpr size_t kMaxCachedHosts = 1024;

class Resolver {
 public:
  explicit Resolver(Nanos ttl);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The host's addresses in getaddrinfo order, port 0. suspends (only for a lookup). Errors:
  // kUnavailable (the name does not resolve), or the watchdog's error if it fires first.
  reactor::Task<Result<std::vector<SocketAddress>>> Resolve(std::string host, Watchdog& dog);

  // getaddrinfo calls started so far (cache misses).
  uint64_t lookups() const;

  // Parses an IP literal (ParseIpLiteral); false for anything else.
  static bool ParseNumeric(const std::string& host, SocketAddress& out);

  struct State;  // shared with in-flight lookups

 private:
  std::shared_ptr<State> state_;
};

}  // namespace rf::http::client

#include "http/client/resolver.h"

#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "base/check.h"
#include "reactor/offload.h"

namespace rf::http::client {

using reactor::Shard;

namespace {

using Addresses = std::vector<SocketAddress>;

struct LookupWait;

struct Entry {
  Addresses addresses;
  Nanos expires = 0;
  bool pending = false;  // a lookup is in flight; never evicted meanwhile
  std::vector<LookupWait*> waiters;
};

// A Resolve() call parked on a pending lookup. Exactly one of the lookup's completion and the
// watchdog's abort resumes it: each clears the other's hook first.
struct LookupWait : Watchdog::Parked {
  LookupWait(Entry& e, Watchdog& d) : entry(&e), dog(d) { abort = &Abort; }

  bool await_ready() const noexcept { return dog.fired(); }
  void await_suspend(std::coroutine_handle<> h) {
    handle = h;
    entry->waiters.push_back(this);
    dog.Park(this);
  }
  Result<Addresses> await_resume() {
    if (!result) return dog.error();
    return std::move(*result);
  }

  static void Abort(Watchdog::Parked* p) {
    auto* self = static_cast<LookupWait*>(p);
    auto& ws = self->entry->waiters;
    ws.erase(std::find(ws.begin(), ws.end(), self));
    Shard::Current().Schedule(self->handle);
  }

  Entry* entry;  // unordered_map nodes are stable; a pending entry is never erased
  Watchdog& dog;
  std::coroutine_handle<> handle;
  std::optional<Result<Addresses>> result;
};

// Runs on an Offload helper thread: getaddrinfo may block for seconds.
Result<Addresses> GetAddrInfo(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    return Error{Errc::kUnavailable,
                 "cannot resolve '" + host +
                     "': " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc))};
  }
  Addresses out;
  for (addrinfo* ai = list; ai != nullptr && out.size() < kMaxAddressesPerHost; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
        ai->ai_addrlen > sizeof(sockaddr_storage)) {
      continue;
    }
    SocketAddress a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    out.push_back(a);
  }
  freeaddrinfo(list);
  if (out.empty()) return Error{Errc::kUnavailable, "no IPv4/IPv6 address for '" + host + "'"};
  return out;
}

}  // namespace

struct Resolver::State {
  Nanos ttl = 0;
  uint64_t lookups = 0;
  std::unordered_map<std::string, Entry> hosts;

  // Makes room for one more name: expired entries first, then any settled one.
  void Evict(Nanos now) {
    if (hosts.size() < kMaxCachedHosts) return;
    std::erase_if(hosts,
                  [now](const auto& kv) { return !kv.second.pending && kv.second.expires <= now; });
    for (auto it = hosts.begin(); hosts.size() >= kMaxCachedHosts && it != hosts.end();) {
      it = it->second.pending ? std::next(it) : hosts.erase(it);
    }
  }
};

namespace {

// Detached: owns a reference to the cache so it may outlive the Resolver.
reactor::Task<void> Lookup(std::shared_ptr<Resolver::State> state, std::string host) {
  // A named awaiter: GCC 12 mishandles a capturing lambda inside a temporary co_await operand.
  auto lookup = reactor::Offload([host] { return GetAddrInfo(host); });
  Result<Addresses> r = co_await lookup;  // suspends
  auto it = state->hosts.find(host);
  RF_CHECK(it != state->hosts.end() && it->second.pending);
  Entry& e = it->second;
  e.pending = false;
  const std::vector<LookupWait*> waiters = std::move(e.waiters);
  e.waiters.clear();
  for (LookupWait* w : waiters) {
    w->dog.Unpark();
    w->result.emplace(r);
    Shard::Current().Schedule(w->handle);
  }
  if (r) {
    e.addresses = std::move(*r);
    e.expires = MonoNow() + state->ttl;
  } else {
    state->hosts.erase(it);
  }
}

}  // namespace

Resolver::Resolver(Nanos ttl) : state_(std::make_shared<State>()) { state_->ttl = ttl; }

Resolver::~Resolver() = default;

uint64_t Resolver::lookups() const { return state_->lookups; }

bool Resolver::ParseNumeric(const std::string& host, SocketAddress& out) {
  std::optional<SocketAddress> a = ParseIpLiteral(host);
  out = a.value_or(SocketAddress{});
  return a.has_value();
}

reactor::Task<Result<Addresses>> Resolver::Resolve(std::string host, Watchdog& dog) {
  if (SocketAddress a; ParseNumeric(host, a)) co_return Addresses{a};
  if (dog.fired()) co_return dog.error();
  auto& hosts = state_->hosts;
  const Nanos now = MonoNow();
  auto it = hosts.find(host);
  if (it != hosts.end() && !it->second.pending) {
    if (it->second.expires > now) co_return it->second.addresses;
    hosts.erase(it);
    it = hosts.end();
  }
  if (it == hosts.end()) {
    state_->Evict(now);
    it = hosts.emplace(host, Entry{}).first;
    it->second.pending = true;
    ++state_->lookups;
    reactor::Spawn(Lookup(state_, host));
  }
  LookupWait wait(it->second, dog);  // named: its address is what the lookup resumes
  co_return co_await wait;           // suspends
}

}  // namespace rf::http::client

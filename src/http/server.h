#pragma once
// Server: the HTTP/1.1 front door. One SO_REUSEPORT listener per shard, bound
// up front on the main thread (so a busy port fails start-up cleanly), then
// served by each shard with multishot accept. Connections are shard-local
// coroutines (see connection.cc); the only cross-shard state is the global
// connection count that enforces --max-connections.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/handler.h"
#include "http/stats.h"
#include "reactor/shard.h"

namespace rf::tls {
class TlsContext;
}

namespace rf::http {

// The first part of a body that --body-min-rate does not judge (slow start, 100-continue).
constexpr Nanos kBodyRateGrace = 5 * kSeconds;

// Decides whether a request for a matched route reaches its handler (authentication and roles;
// api/ implements it). Called on the connection's shard, synchronously, before every handler;
// false: it wrote the answer (401, 403) into `resp`. Implementations must not allocate per
// request where they can reuse `who`.
class Admission {
 public:
  virtual ~Admission() = default;
  virtual bool Admit(unsigned shard, const Request& req, const Endpoint& ep, const Params& params,
                     Identity& who, Response& resp) = 0;
};

// The audit trail of mutations (api/ implements it): for a matched route marked `audited`, a
// request other than GET and HEAD reserves an entry before any other check (Reserve false: the
// trail is full and the request is answered 503 without running), and once its status is known
// (whatever answered: the admission's 401/403, a 415, the handler) Record is called exactly
// once, through FinishAudit. On the connection's shard, synchronously.
class RequestAudit {
 public:
  virtual ~RequestAudit() = default;
  virtual bool Reserve(unsigned shard) = 0;
  virtual void Record(unsigned shard, const Request& req, const Router<Endpoint>::Match& m,
                      const Identity& who, int status) = 0;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  Limits limits;
  size_t max_connections = 100000;
  Nanos header_timeout = 10 * kSeconds;
  Nanos idle_timeout = 60 * kSeconds;
  // Once a request's head is in, its body must be complete within body_timeout and, after a
  // first kBodyRateGrace, average at least body_min_rate bytes/s (0: no minimum); else 408.
  Nanos body_timeout = 30 * kSeconds;
  uint64_t body_min_rate = 1024;
  size_t max_pipeline = 64;
  // HTTP/2: SETTINGS_MAX_CONCURRENT_STREAMS per connection (h2/session.h).
  uint32_t h2_max_streams = 100;
  bool access_log = false;
  // Null: every request reaches its handler. Outlives the server.
  Admission* admission = nullptr;
  // Null: nothing is audited. Outlives the server.
  RequestAudit* audit = nullptr;
  // Non-empty: the Host header's name (port stripped, case-insensitive) must be one of these,
  // else 421 (DNS rebinding). IPv6 as "[::1]".
  std::vector<std::string> allowed_hosts;
  // POST, PUT, PATCH and DELETE need Content-Type: application/json (or +json) even with an
  // empty body, else 415: a cross-site browser request cannot set it without a CORS preflight.
  bool json_mutations = false;
  // Set: every connection is TLS (ALPN h2 -> HTTP/2, else HTTP/1.1). Owned by the caller.
  tls::TlsContext* tls = nullptr;
};

// Whether `host_header` (a Host value, maybe with a port) names one of `allowed`.
bool HostAllowed(std::string_view host_header, const std::vector<std::string>& allowed);
// Whether a Content-Type value is JSON: application/json or application/<x>+json, parameters
// ignored, case-insensitive.
bool IsJsonContentType(std::string_view content_type);
// The checks a request passes before its handler, the same for HTTP/1.1 and HTTP/2: the Host
// (--allowed-hosts, 421) of every request; for a matched route, the admission (401, 403) and
// the JSON content type of mutations (415). False: `resp` holds the answer.
bool AdmitRequest(const ServerOptions& opt, unsigned shard, const Request& req,
                  const Router<Endpoint>::Match& m, Identity& who, Response& resp);
// Records the outcome of a request AdmitRequest reserved an audit entry for (a no-op
// otherwise, so every place a response is finished may call it).
inline void FinishAudit(const ServerOptions& opt, unsigned shard, const Request& req,
                        const Router<Endpoint>::Match& m, Identity& who, int status) {
  if (!who.audit_pending) return;
  who.audit_pending = false;
  opt.audit->Record(shard, req, m, who, status);
}

class ShardServer;

class Server {
 public:
  // route_names[0] labels requests that matched no route.
  Server(ServerOptions options, size_t shards, const Router<Endpoint>* router,
         std::vector<std::string> route_names);
  ~Server();

  // Main thread, before the reactor runs: one bound, listening socket per shard.
  Status Listen();
  uint16_t port() const { return port_; }

  // On the shard's own thread.
  void Start(reactor::Shard& shard);
  void BeginDrain(reactor::Shard& shard);  // stop accepting, close idle connections
  // After the drain, on each shard: ends the shard's connection sweeper (a frame left sleeping
  // when the reactor stops is reported as a leak by ASan builds).
  reactor::Task<void> StopSweep(reactor::Shard& shard);

  // Any thread.
  int serving_shards() const { return serving_.load(std::memory_order_acquire); }
  int64_t open_connections() const;
  const HttpStats& stats(unsigned shard) const;
  const std::vector<std::string>& route_names() const { return route_names_; }
  const ServerOptions& options() const { return options_; }
  const Router<Endpoint>& router() const { return *router_; }

 private:
  friend class ShardServer;
  ServerOptions options_;
  const Router<Endpoint>* router_;
  std::vector<std::string> route_names_;
  std::vector<std::unique_ptr<ShardServer>> shards_;
  std::vector<int> listen_fds_;
  uint16_t port_ = 0;
  std::atomic<int> serving_{0};
  alignas(64) std::atomic<int64_t> connections_{0};
};

}  // namespace rf::http

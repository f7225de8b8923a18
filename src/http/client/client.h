#pragma once
// Client: the outbound HTTP/1.1 client behind `http` workflow steps. One per shard, used and
// destroyed only on that shard's thread; it must outlive the Sends it started.
//
//   client::Request req{.method = "POST", .url = "http://127.0.0.1:9000/reserve", .body = json,
//                       .deadline = Deadline::After(2 * kSeconds)};
//   req.headers.emplace_back("Idempotency-Key", key);
//   Result<client::Response> r = co_await client.Send(std::move(req), &run_cancel);  // suspends
//
// Per exchange: parse the URL, take an idle keep-alive connection to (host, port) from the
// shard's pool or open one (DNS via Resolver, the egress policy's check of each address, then
// IORING_OP_CONNECT), send the request, read one
// response (ResponseParser), and return the connection to the pool only if the response was
// complete, keep-alive, and nothing followed it. Every wait is bounded by the request's deadline
// (and the connect phase also by connect_timeout) and aborted by its CancelToken; both are
// enforced by cancelling the in-flight io_uring op, never by blocking.
//
// Reuse and retry: a pooled connection can die while idle (the server's idle timeout closes it).
// If sending on one fails, or it reports EOF/reset before a single response byte, the request is
// sent once more on a fresh connection. That is safe even for POST: a server that closed or reset
// the connection before answering had stopped serving it, so it did not process the request (the
// race RFC 9112 §9.3.1 describes); and the engine adds an Idempotency-Key to every step call, so
// a peer that did act on it anyway sees a duplicate it can recognise. Fresh connections are never
// retried here: retries with backoff are the step's retry policy.
//
// Egress: every connection is opened under an EgressPolicy (egress_policy.h): the request's, else
// the client's. Pooled connections are kept per (policy, host, port), so a connection opened
// under one policy never serves a request under another. Redirects are not followed.
//
// https://: after the connect, a TLS handshake through the ring (the certificate must verify
// against Options::tls's CAs and name the URL's host); the session then stays with the pooled
// connection, so a keep-alive exchange pays for no handshake. Without Options::tls an https URL
// fails with kInvalidArgument and nothing is sent.

#include <cstddef>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "http/client/connection_pool.h"
#include "http/client/egress_policy.h"
#include "http/client/request.h"
#include "http/client/resolver.h"
#include "http/client/response_parser.h"
#include "http/client/url.h"
#include "obs/metrics.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "tls/tls_client.h"

namespace rf::http::client {

using reactor::CancelToken;  // a generic shard-local token, shared with the engine

struct ClientStats {
  obs::Counter requests;       // Send calls
  obs::Counter connects;       // connections opened
  obs::Counter reused;         // exchanges on a pooled connection
  obs::Counter stale_retries;  // pooled connections found dead on use, request re-sent
  obs::Counter failures;       // Sends that returned an error
  obs::Counter egress_denied;  // Sends refused by the egress policy (also counted in failures)
  obs::Counter tls_handshakes;  // https connections opened (handshake done)
  obs::Counter tls_failures;    // https handshakes that failed (certificate, protocol)
};

// Appends the client counters of every shard (one ClientStats each) in the Prometheus text format:
// rf_http_client_requests_total, ..._egress_denied_total, by shard.
void RenderClientMetrics(const std::vector<const ClientStats*>& shards, std::string& out);

class Client {
 public:
  struct Options {
    size_t max_idle_per_host = 32;
    Nanos idle_timeout = 30 * kSeconds;
    size_t max_response_bytes = 8 << 20;  // body; the head is bounded at 64 KiB on its own
    Nanos dns_ttl = 30 * kSeconds;
    // What a request without its own policy may connect to; must outlive the client. Null: the
    // default, deny-private with an empty allowlist.
    const EgressPolicy* egress = nullptr;
    // Where the counters go; must outlive the client and be read-only to everyone else. Null:
    // the client keeps its own.
    ClientStats* stats = nullptr;
    // The CAs https servers are verified against (shared read-only; outlives the client).
    // Null: https URLs are refused.
    const tls::TlsClientContext* tls = nullptr;
  };

  explicit Client(Options options);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `req` and reads its response. suspends. Errors:
  //  kInvalidArgument  bad URL, method or header (nothing is sent)
  //  kTimeout          connect_timeout or the deadline passed
  //  kUnavailable      DNS failure, connection refused/reset/closed before a response, a TLS
//                    handshake that failed (certificate not verified, protocol)
  //  kTooLarge         response head over 64 KiB or body over max_response_bytes
  //  kCancelled        `cancel` fired (before or during the exchange)
  //  kEgressDenied     the egress policy refused every address of the host (nothing was sent)
  //  kIo               malformed or truncated response, other socket errors
  // `cancel` (optional) must outlive the call.
  reactor::Task<Result<Response>> Send(Request req, CancelToken* cancel = nullptr);

  const ClientStats& stats() const { return *stats_; }
  size_t idle_connections() const { return pool_.idle(); }
  uint64_t dns_lookups() const { return resolver_.lookups(); }

 private:
  struct Outcome;

  reactor::Task<Result<Connection>> Open(const Url& url, const Request& req,
                                         const EgressPolicy& egress, Watchdog& dog);
  reactor::Task<Outcome> Exchange(Connection& conn, std::string_view wire, bool head_request,
                                  Watchdog& dog);

  Options options_;
  reactor::Shard* shard_ = nullptr;  // the shard of the first Send; every later one must match
  ConnectionPool pool_;
  Resolver resolver_;
  const EgressPolicy* egress_;
  ClientStats own_stats_;
  ClientStats* stats_;
};

}  // namespace rf::http::client

#include "http/client/client.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "base/check.h"
#include "http/client/connector.h"
#include "reactor/io.h"

namespace rf::http::client {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;

// The policy is part of the key: a connection admitted by one policy must not serve another's.
std::string PoolKey(const Url& url, const EgressPolicy& egress) {
  return url.host + ':' + std::to_string(url.port) + '#' + std::to_string(egress.id());
}

const EgressPolicy& DefaultEgress() {
  static const EgressPolicy policy;  // deny-private, nothing allowed
  return policy;
}

Nanos SaturatingAdd(Nanos a, Nanos b) { return b > INT64_MAX - a ? INT64_MAX : a + b; }

}  // namespace

struct Client::Outcome {
  Result<Response> result = Error{Errc::kInternal, "exchange did not run"};
  bool reusable = false;  // a complete keep-alive response with nothing after it
  bool stale = false;     // failed before any response byte: the peer did not process the request
};

Client::Client(Options options)
    : options_(options),
      pool_({.max_idle_per_host = options.max_idle_per_host, .idle_timeout = options.idle_timeout}),
      resolver_(options.dns_ttl),
      egress_(options.egress != nullptr ? options.egress : &DefaultEgress()),
      stats_(options.stats != nullptr ? options.stats : &own_stats_) {}

reactor::Task<Result<Response>> Client::Send(Request req, CancelToken* cancel) {
  // Shard-local: the pool's fds, timers and the resolver cache belong to one ring and thread.
  if (shard_ == nullptr) shard_ = &reactor::Shard::Current();
  RF_CHECK(shard_ == &reactor::Shard::Current());
  stats_->requests.Add();
  const auto fail = [this](Error e) {
    stats_->failures.Add();
    if (e.code == Errc::kEgressDenied) stats_->egress_denied.Add();
    return e;
  };
  Result<Url> url = ParseUrl(req.url);
  if (!url) co_return fail(url.error());
  std::string wire;
  if (Status st = WriteRequest(req, *url, wire); !st) co_return fail(st.error());

  Watchdog dog(cancel);
  dog.Bound(req.deadline.at(), "request");
  const bool head_request = req.method == "HEAD";
  const EgressPolicy& egress = req.egress != nullptr ? *req.egress : *egress_;
  const std::string key = PoolKey(*url, egress);
  for (int attempt = 0;; ++attempt) {
    if (dog.fired()) co_return fail(dog.error());
    int fd = attempt == 0 ? pool_.Checkout(key) : -1;
    const bool reused = fd >= 0;
    if (reused) {
      stats_->reused.Add();
    } else {
      Result<int> opened = co_await Open(*url, req, egress, dog);  // suspends
      if (!opened) co_return fail(opened.error());
      fd = *opened;
    }
    Outcome out = co_await Exchange(fd, wire, head_request, dog);  // suspends
    if (out.result && out.reusable) {
      pool_.Return(key, fd);
    } else {
      ::close(fd);
    }
    if (out.result) co_return std::move(out.result);
    // See the header: a pooled connection that died before answering gets one fresh retry.
    if (reused && out.stale) {
      stats_->stale_retries.Add();
      continue;
    }
    co_return fail(out.result.error());
  }
}

reactor::Task<Result<int>> Client::Open(const Url& url, const Request& req,
                                        const EgressPolicy& egress, Watchdog& dog) {
  const Nanos connect_by = SaturatingAdd(MonoNow(), std::max<Nanos>(req.connect_timeout, 0));
  if (connect_by < req.deadline.at()) dog.Bound(connect_by, "connect");
  Result<std::vector<SocketAddress>> addresses =
      co_await resolver_.Resolve(url.host, dog);  // suspends
  if (!addresses) co_return addresses.error();
  Result<int> fd = co_await Connect(*addresses, url.port, egress, url.host, dog);  // suspends
  if (!fd) co_return fd.error();
  stats_->connects.Add();
  dog.Bound(req.deadline.at(), "request");
  co_return fd;
}

reactor::Task<Client::Outcome> Client::Exchange(int fd, std::string_view wire, bool head_request,
                                                Watchdog& dog) {
  Outcome out;
  while (!wire.empty()) {
    reactor::SendOp op(fd, wire);
    Result<size_t> n = co_await dog.Guard(op);  // suspends
    if (!n || *n == 0) {
      if (dog.fired()) {
        out.result = dog.error();
      } else {
        out.result =
            n ? Error{Errc::kUnavailable, "send: connection closed"} : SocketError(n.error());
        out.stale = true;  // nothing was answered, so nothing was processed
      }
      co_return out;
    }
    wire.remove_prefix(*n);
  }

  ResponseParser parser({.max_head = kMaxResponseHead, .max_body = options_.max_response_bytes});
  parser.Reset(head_request);
  auto buf = std::make_unique_for_overwrite<char[]>(kReadChunk);
  bool any_byte = false;
  while (true) {
    reactor::RecvOp op(fd, {buf.get(), kReadChunk});
    Result<size_t> n = co_await dog.Guard(op);  // suspends
    if (!n) {
      if (dog.fired()) {
        out.result = dog.error();
      } else {
        out.result = SocketError(n.error());
        out.stale = !any_byte;
      }
      co_return out;
    }
    if (*n == 0) {
      if (!any_byte) {
        out.result = Error{Errc::kUnavailable, "connection closed before any response byte"};
        out.stale = true;
      } else if (Status st = parser.FinishAtEof(); !st) {
        out.result = st.error();
      } else {
        out.result = parser.TakeResponse();  // close-delimited: never reusable
      }
      co_return out;
    }
    any_byte = true;
    Result<size_t> used = parser.Feed({buf.get(), *n});
    if (!used) {
      out.result = used.error();
      co_return out;
    }
    if (parser.complete()) {
      // Bytes after the response were never asked for: the connection is not trustworthy.
      out.reusable = parser.keep_alive() && *used == *n;
      out.result = parser.TakeResponse();
      co_return out;
    }
  }
}

void RenderClientMetrics(const std::vector<const ClientStats*>& shards, std::string& out) {
  obs::TextExposition x(out);
  const auto family = [&](const char* name, const char* help, const obs::Counter ClientStats::*c) {
    x.Family(name, "counter", help);
    for (size_t i = 0; i < shards.size(); ++i)
      x.SampleU(name, "shard=\"" + std::to_string(i) + "\"", (shards[i]->*c).Get());
  };
  family("rf_http_client_requests_total", "Outbound requests of http steps.",
         &ClientStats::requests);
  family("rf_http_client_connects_total", "Outbound connections opened.", &ClientStats::connects);
  family("rf_http_client_reused_total", "Outbound exchanges on a pooled keep-alive connection.",
         &ClientStats::reused);
  family("rf_http_client_stale_retries_total",
         "Pooled connections found dead on use; the request was sent again on a fresh one.",
         &ClientStats::stale_retries);
  family("rf_http_client_failures_total", "Outbound requests that failed (no response).",
         &ClientStats::failures);
  family("rf_http_client_egress_denied_total",
         "Outbound requests refused by the egress policy (--egress-allow, --egress-policy).",
         &ClientStats::egress_denied);
}

}  // namespace rf::http::client

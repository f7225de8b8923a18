#include "http/client/client.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "base/buffer.h"
#include "base/check.h"
#include "http/client/connector.h"
#include "reactor/io.h"

namespace rf::http::client {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;

// The policy is part of the key: a connection admitted by one policy must not serve another's.
std::string PoolKey(const Url& url, const EgressPolicy& egress) {
  return (url.tls ? "s:" : "") + url.host + ':' + std::to_string(url.port) + '#' + std::to_string(egress.id());
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
  if (url->tls && options_.tls == nullptr)
    co_return fail(Error{Errc::kInvalidArgument, "https is not available: no CA bundle was loaded (see --http-ca-file)"});
  std::string wire;
  if (Status st = WriteRequest(req, *url, wire); !st) co_return fail(st.error());

  Watchdog dog(cancel);
  dog.Bound(req.deadline.at(), "request");
  const bool head_request = req.method == "HEAD";
  const EgressPolicy& egress = req.egress != nullptr ? *req.egress : *egress_;
  const std::string key = PoolKey(*url, egress);
  for (int attempt = 0;; ++attempt) {
    if (dog.fired()) co_return fail(dog.error());
    Connection conn = attempt == 0 ? pool_.Checkout(key) : Connection{};
    const bool reused = conn.open();
    if (reused) {
      stats_->reused.Add();
    } else {
      Result<Connection> opened = co_await Open(*url, req, egress, dog);  // suspends
      if (!opened) co_return fail(opened.error());
      conn = std::move(*opened);
    }
    Outcome out = co_await Exchange(conn, wire, head_request, dog);  // suspends
    if (out.result && out.reusable) {
      pool_.Return(key, std::move(conn));
    } else {
      conn.Close();
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

reactor::Task<Result<Connection>> Client::Open(const Url& url, const Request& req,
                                               const EgressPolicy& egress, Watchdog& dog) {
  const Nanos connect_by = SaturatingAdd(MonoNow(), std::max<Nanos>(req.connect_timeout, 0));
  if (connect_by < req.deadline.at()) dog.Bound(connect_by, "connect");
  Result<std::vector<SocketAddress>> addresses =
      co_await resolver_.Resolve(url.host, dog);  // suspends
  if (!addresses) co_return addresses.error();
  Result<int> fd = co_await Connect(*addresses, url.port, egress, url.host, dog);  // suspends
  if (!fd) co_return fd.error();
  stats_->connects.Add();
  Connection conn;
  conn.fd = *fd;
  if (url.tls) {
    // The handshake is part of connecting: connect_timeout bounds it too.
    auto session = co_await TlsHandshake(conn.fd, options_.tls->Acquire(), url.host, dog);  // suspends
    if (!session) {
      conn.Close();
      if (!dog.fired()) stats_->tls_failures.Add();
      co_return session.error();
    }
    stats_->tls_handshakes.Add();
    conn.tls = std::move(*session);
  }
  dog.Bound(req.deadline.at(), "request");
  co_return conn;
}

reactor::Task<Client::Outcome> Client::Exchange(Connection& conn, std::string_view wire,
                                                bool head_request, Watchdog& dog) {
  Outcome out;
  const int fd = conn.fd;
  Buffer cipher;  // https: the request sealed, then what the session must answer while reading
  if (conn.tls) {
    if (!conn.tls->Write(wire)) {
      out.result = Error{Errc::kIo, std::string("TLS: ") + conn.tls->error()};
      co_return out;
    }
    conn.tls->TakeOutput(cipher);
    wire = cipher.view();
  }
  {
    Error error;
    if (!co_await SendGuarded(fd, wire, dog, error)) {  // suspends
      out.result = std::move(error);
      out.stale = !dog.fired();  // nothing was answered, so nothing was processed
      co_return out;
    }
  }

  ResponseParser parser({.max_head = kMaxResponseHead, .max_body = options_.max_response_bytes});
  parser.Reset(head_request);
  auto buf = std::make_unique_for_overwrite<char[]>(kReadChunk);
  Buffer plain;         // https: decrypted bytes of this read
  bool any_byte = false;  // of the response (plaintext)
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
    std::string_view chunk(buf.get(), *n);
    bool ended = *n == 0;  // EOF, or (https) close_notify
    if (conn.tls && *n > 0) {
      conn.tls->Feed(chunk);
      plain.Consume(plain.size());
      const bool ok = conn.tls->Read(plain);
      chunk = plain.view();
      if (!ok) {
        if (std::string_view(conn.tls->error()) != "close_notify") {
          out.result = Error{Errc::kIo, std::string("TLS: ") + conn.tls->error()};
          out.stale = !any_byte && chunk.empty();
          co_return out;
        }
        ended = chunk.empty();
        if (!ended) {
          // Data, then close_notify: parse the data; the end follows as EOF below.
          Result<size_t> used = parser.Feed(chunk);
          if (!used) {
            out.result = used.error();
            co_return out;
          }
          any_byte = true;
          if (parser.complete()) {
            out.result = parser.TakeResponse();
            co_return out;
          }
          ended = true;
        }
      } else if (chunk.empty()) {
        continue;  // only TLS records (a session ticket, a partial record)
      }
    }
    if (ended) {
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
    Result<size_t> used = parser.Feed(chunk);
    if (!used) {
      out.result = used.error();
      co_return out;
    }
    if (parser.complete()) {
      // Bytes after the response were never asked for: the connection is not trustworthy. Nor
      // is a TLS session that wants to answer something (a key update) we would not send.
      out.reusable = parser.keep_alive() && *used == chunk.size() && !(conn.tls && conn.tls->HasOutput());
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
  family("rf_http_client_tls_handshakes_total", "Outbound https connections opened (TLS handshake done).",
         &ClientStats::tls_handshakes);
  family("rf_http_client_tls_failures_total",
         "Outbound TLS handshakes that failed (certificate not verified, protocol error).",
         &ClientStats::tls_failures);
  family("rf_http_client_egress_denied_total",
         "Outbound requests refused by the egress policy (--egress-allow, --egress-policy).",
         &ClientStats::egress_denied);
}

}  // namespace rf::http::client

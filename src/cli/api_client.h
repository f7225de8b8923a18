#pragma once
// ApiClient: the CLI's connection to a ringflow daemon's HTTP API. Blocking, one thread (the CLI
// is not on a reactor shard and makes one call at a time), over a TCP socket whose waits are
// bounded with poll(2); for an https:// --server through a TLS session (src/tls) that verifies
// the daemon's certificate against ClientOptions::ca_file or the system bundle.
//
// It reuses the outbound client's pure pieces (http/client): ParseUrl for --server,
// WriteRequest for the request bytes and ResponseParser for strict response parsing. Not
// http/client's Client itself: that one lives on a reactor shard and hands back whole
// responses, while `runs watch` must read an event stream as it arrives (README.md has the
// reasoning).
//
// One keep-alive connection is reused across calls; a reused connection found closed before any
// answer byte is replaced once (the daemon closes idle connections after --idle-timeout).
// Errors (the CLI maps every one to exit status 3, "cannot reach the daemon"):
//  kUnavailable  no address, connection refused, reset or closed before a complete answer
//  kTimeout      no complete answer within ClientOptions::timeout
//  kIo           a malformed answer (not HTTP/1.1 as the daemon speaks it)
// A bad --server or --api-key is kInvalidArgument from Create (a usage error, status 2).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <memory>
#include <utility>

#include "base/buffer.h"
#include "base/clock.h"
#include "base/result.h"
#include "http/client/response_parser.h"
#include "http/client/url.h"
#include "tls/tls_client.h"
#include "tls/tls_session.h"

namespace rf::cli {

// One connection to the daemon: the socket and, over https, its TLS session (bytes decrypted
// but not yet handed out wait in `plain`).
struct Link {
  Link() = default;
  Link(Link&& o) noexcept : fd(std::exchange(o.fd, -1)), tls(std::move(o.tls)), plain(std::move(o.plain)) {}
  Link& operator=(Link&& o) noexcept {
    if (this != &o) {
      Close();
      fd = std::exchange(o.fd, -1);
      tls = std::move(o.tls);
      plain = std::move(o.plain);
    }
    return *this;
  }
  ~Link() { Close(); }

  int fd = -1;
  std::unique_ptr<tls::TlsSession> tls;
  Buffer plain;

  bool open() const { return fd >= 0; }
  void Close();
};

struct ClientOptions {
  std::string server = "http://127.0.0.1:8080";
  std::string api_key;                 // sent as "Authorization: Bearer KEY" when not empty
  Nanos timeout = 30 * kSeconds;       // connect + the whole answer of one call
  std::string ns;                      // not empty: /v1/X targets go to /v1/namespaces/NS/X
  std::string ca_file;                 // https: the CAs to verify the daemon with ("": the system's)
};

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
};

// Percent-encodes `s` for a path segment or query value (all but A-Z a-z 0-9 - . _ ~).
std::string Escape(std::string_view s);

class EventStream;

class ApiClient {
 public:
  static Result<ApiClient> Create(ClientOptions options);
  ApiClient(ApiClient&& other) noexcept;
  ApiClient& operator=(ApiClient&&) = delete;
  ApiClient(const ApiClient&) = delete;
  ~ApiClient();

  // `target`: the path and query under the server URL, e.g. "/v1/runs?limit=5". A non-empty
  // body is sent as application/json.
  Result<Reply> Call(std::string_view method, std::string_view target, std::string_view body = {},
                     std::vector<std::pair<std::string, std::string>> headers = {});

  // Opens GET `target` as an event stream on a connection of its own (Last-Event-ID when
  // `last_event_id` is not empty). The answer's head is read before this returns.
  Result<EventStream> Stream(std::string_view target, std::string_view last_event_id);

  const std::string& server() const { return options_.server; }

 private:
  ApiClient(ClientOptions options, http::client::Url base, std::string prefix,
            std::shared_ptr<tls::TlsClientContext> tls);
  Result<Link> Connect(Deadline deadline) const;
  Result<std::string> Wire(std::string_view method, std::string_view target, std::string_view body,
                           std::vector<std::pair<std::string, std::string>> headers) const;

  ClientOptions options_;
  http::client::Url base_;
  std::string prefix_;  // the server URL's path, without a trailing '/'
  std::shared_ptr<tls::TlsClientContext> tls_;  // https only
  Link link_;           // the keep-alive connection

  friend class EventStream;
};

// An open text/event-stream answer. Move-only; closes its connection when destroyed.
class EventStream {
 public:
  EventStream(EventStream&& other) noexcept;
  EventStream& operator=(EventStream&&) = delete;
  EventStream(const EventStream&) = delete;
  ~EventStream();

  int status() const { return status_; }
  // Not 200: the whole (error) answer, read before Stream returned.
  const std::string& error_body() const { return error_body_; }

  // Appends body bytes that arrive within `timeout` to `out`. Returns true while the stream is
  // open, false once the daemon ended it. kTimeout when nothing arrived (not fatal: call again);
  // kUnavailable/kIo when the connection broke.
  Result<bool> Read(std::string& out, Nanos timeout);

 private:
  friend class ApiClient;
  EventStream() = default;

  Link link_;
  int status_ = 0;
  std::string error_body_;
  bool ended_ = false;
  http::client::ResponseParser parser_{http::client::ResponseLimits{.max_head = 64 * 1024,
                                                                    .max_body = 64 << 20}};
};

}  // namespace rf::cli

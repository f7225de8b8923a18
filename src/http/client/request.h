#pragma once
// Request: what an `http` step asks the client to send, and its serialisation to HTTP/1.1 bytes.
// Pure; any thread.

#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/client/egress_policy.h"
#include "http/client/url.h"

namespace rf::http::client {

struct Request {
  std::string method = "GET";
  std::string url;  // "http://host[:port]/path?query"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Nanos connect_timeout = 5 * kSeconds;  // DNS + TCP connect, also bounded by `deadline`
  // Bounds the whole exchange (connect, send, response). Never() only for callers that bound the
  // call some other way: the engine sets it from the step's timeout_ms.
  Deadline deadline = Deadline::Never();
  // The policy this request connects under (e.g. its namespace's, once namespaces exist); must
  // outlive the call. Null: the client's (Client::Options::egress).
  const EgressPolicy* egress = nullptr;
};

// Appends the request head and body for `url` (ParseUrl(req.url)) to `out`:
//   <method> <target> HTTP/1.1
//   Host, User-Agent ("ringflow/" RF_VERSION), the caller's headers in order,
//   Content-Length (when there is a body, and always for POST, PUT and PATCH),
//   Connection: keep-alive
// A caller's Host or User-Agent replaces the default. Content-Length, Transfer-Encoding and
// Connection are the client's to set (framing and connection reuse depend on them), so a caller
// giving one is kInvalidArgument, as are a method that is not a token, a header name that is not
// a token, and a value with CR, LF or another control character (header injection).
Status WriteRequest(const Request& req, const Url& url, std::string& out);

// The User-Agent sent unless the caller gives one.
const char* DefaultUserAgent();

}  // namespace rf::http::client

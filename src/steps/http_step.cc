#include "steps/http_step.h"

#include "http/client/url.h"
#include "json/parse.h"
#include "json/utf8.h"
#include "json/value_limits.h"

namespace rf::steps {

Result<json::Value> BodyValue(std::string_view body) {
  if (body.empty()) return json::Value();
  // The client already bounds bodies at max_response_bytes; the engine checks the output's size.
  auto v = json::Parse(body, {.max_bytes = body.size(), .max_depth = json::kMaxDepth});
  if (v) return std::move(*v);
  if (v.error().code == Errc::kTooDeep)
    return Error{Errc::kTooDeep, "response body: " + v.error().context};
  return json::Value(json::ToValidUtf8(body));
}

std::string ClientHttpExecutor::Origin(std::string_view url) const {
  auto u = http::client::ParseUrl(url);
  if (!u) return {};
  const bool v6 = u->host.find(':') != std::string::npos;
  return std::string(u->tls ? "https://" : "http://") + (v6 ? "[" + u->host + "]" : u->host) + ":" + std::to_string(u->port);
}

reactor::Task<engine::HttpResult> ClientHttpExecutor::Call(engine::HttpCall call,
                                                           reactor::CancelToken* cancel) {
  http::client::Request req;
  req.method = std::move(call.method);
  req.url = std::move(call.url);
  req.headers = std::move(call.headers);
  req.body = std::move(call.body);
  if (call.connect_timeout > 0) req.connect_timeout = call.connect_timeout;
  req.deadline = Deadline::After(call.timeout);
  std::shared_ptr<const http::client::EgressPolicy> egress;  // held until the call ends
  if (egress_) egress = egress_(call.ns);
  req.egress = egress.get();
  auto r = co_await client_.Send(std::move(req), cancel);  // suspends
  engine::HttpResult out;
  if (!r) {
    out.error = r.error();
    co_return out;
  }
  out.status = r->status;
  auto body = BodyValue(r->body);
  if (body)
    out.body = std::move(*body);
  else
    out.error = body.error();
  co_return out;
}

}  // namespace rf::steps

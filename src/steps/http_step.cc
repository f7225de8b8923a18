#include "steps/http_step.h"

#include "json/parse.h"

namespace rf::steps {

json::Value BodyValue(std::string_view body) {
  if (body.empty()) return json::Value();
  // Outputs are journaled; the client already bounds bodies at max_response_bytes.
  auto v = json::Parse(body, {.max_bytes = body.size(), .max_depth = 128});
  if (v) return std::move(*v);
  return json::Value(std::string(body));
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
  auto r = co_await client_.Send(std::move(req), cancel);  // suspends
  engine::HttpResult out;
  if (!r) {
    out.error = r.error();
    co_return out;
  }
  out.status = r->status;
  out.body = BodyValue(r->body);
  co_return out;
}

}  // namespace rf::steps

#include "api/detail/common.h"

#include <charconv>

#include "api/auth_gate.h"
#include "base/tenancy.h"
#include "http/server.h"
#include "json/parse.h"
#include "json/value_limits.h"

namespace rf::api::detail {

void ReplyError(http::Response& resp, const Error& e, std::string_view not_found_code) {
  switch (e.code) {
    case Errc::kNotFound: resp.Error(404, not_found_code, e.context); return;
    case Errc::kConflict: resp.Error(409, "conflict", e.context); return;
    case Errc::kInvalidArgument: resp.Error(400, "invalid_argument", e.context); return;
    case Errc::kTooLarge: resp.Error(413, "payload_too_large", e.context); return;
    case Errc::kTooDeep: resp.Error(400, "nesting_too_deep", e.context); return;
    case Errc::kUnavailable:
    case Errc::kRetryLater:
    case Errc::kNotHeld:  // held elsewhere and not forwarded (forward.cc says why)
      resp.Error(503, "unavailable", e.context.empty() ? "try again later" : e.context);
      resp.AddHeader("Retry-After", "1");
      return;
    case Errc::kLimited:
      resp.Error(429, "quota_exceeded", e.context);
      resp.AddHeader("Retry-After", "1");
      return;
    default: resp.Error(500, "internal", e.ToString()); return;
  }
}

bool HaveService(const void* service, std::string_view what, http::Response& resp) {
  if (service != nullptr) return true;
  resp.Error(503, "unavailable", std::string(what) + " are not served by this daemon");
  resp.AddHeader("Retry-After", "1");
  return false;
}

std::optional<std::string_view> PathNamespace(const http::RequestContext& rc) {
  const std::string_view ns = RequestNamespace(rc.params);
  if (ValidNamespace(ns)) return ns;
  rc.resp.Error(400, "invalid_argument", "a namespace is 1..63 of a-z, 0-9 and '-', not starting with '-'");
  return std::nullopt;
}

bool EngineReady(const ApiContext& ctx, http::Response& resp) {
  if (ctx.engine->ready()) return true;
  resp.Error(503, "unavailable", "the engine is starting (replaying its journal) or stopping");
  resp.AddHeader("Retry-After", "1");
  return false;
}

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int h = Hex(in[i + 1]);
      int l = Hex(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

template <class F>
void ForEachParam(std::string_view query, F&& fn) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    fn(item.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
  }
}

}  // namespace

std::optional<std::string> QueryParam(std::string_view query, std::string_view name, bool& bad) {
  std::optional<std::string> found;
  ForEachParam(query, [&](std::string_view k, std::string_view v) {
    if (found || k != name) return;
    std::string out;
    if (!Decode(v, out)) {
      bad = true;
      return;
    }
    found = std::move(out);
  });
  return found;
}

bool OnlyParams(std::string_view query, std::initializer_list<std::string_view> allowed,
                http::Response& resp) {
  std::string unknown;
  ForEachParam(query, [&](std::string_view k, std::string_view) {
    if (!unknown.empty()) return;
    for (std::string_view a : allowed)
      if (a == k) return;
    unknown = std::string(k);
  });
  if (unknown.empty()) return true;
  resp.Error(400, "invalid_argument", "unknown query parameter '" + unknown + "'");
  return false;
}

bool CheckJsonContentType(const http::Request& req, http::Response& resp) {
  std::string_view ct = req.Header("Content-Type");
  if (req.body.empty()) return true;
  if (ct.empty()) {
    resp.Error(415, "unsupported_media_type", "a request body needs Content-Type: application/json");
    return false;
  }
  if (http::IsJsonContentType(ct)) return true;
  std::string_view media = ct.substr(0, ct.find(';'));
  resp.Error(415, "unsupported_media_type",
             "Content-Type must be application/json, not '" + std::string(media) + "'");
  return false;
}

std::optional<json::Value> ParseBody(const http::Request& req, http::Response& resp) {
  // The parser's own depth bound: CheckLimits then names the part that is too deep.
  auto v =
      json::Parse(req.body, {.max_bytes = req.body.size() + 1, .max_depth = json::kReplayMaxDepth});
  if (!v) {
    if (v.error().code == Errc::kTooDeep) {
      resp.Error(400, "nesting_too_deep", "request body: " + v.error().context);
    } else {
      resp.Error(400, "invalid_json", "request body is not valid JSON: " + v.error().context);
    }
    return std::nullopt;
  }
  return std::move(*v);
}

bool CheckLimits(const json::Value& v, std::string_view what, std::string_view field,
                 http::Response& resp) {
  Status ok = json::CheckValue(v);
  if (ok) return true;
  const std::string message = std::string(what) + " " + ok.error().context;
  switch (ok.error().code) {
    case Errc::kTooLarge: resp.Error(413, "payload_too_large", message, field); break;
    case Errc::kTooDeep: resp.Error(400, "nesting_too_deep", message, field); break;
    default: resp.Error(400, "invalid_argument", message, field); break;
  }
  return false;
}

std::string_view Namespace(const http::RequestContext& rc) { return RequestNamespace(rc.params); }

std::string QualifiedName(const http::RequestContext& rc, std::string_view name) {
  return rf::QualifiedName(Namespace(rc), name);
}

std::optional<engine::RunId> PathRunId(const http::RequestContext& rc) {
  auto id = engine::ParseRunId(rc.params.Get("id"));
  if (!id) {
    rc.resp.Error(400, "invalid_argument", "'" + std::string(rc.params.Get("id")) +
                                               "' is not a run id (8-4-4-4-12 lowercase hex)");
    return std::nullopt;
  }
  return *id;
}

}  // namespace rf::api::detail

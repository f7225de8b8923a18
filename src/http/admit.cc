// The checks every request passes before its handler, shared by HTTP/1.1 (connection.cc)
// and HTTP/2 (h2/session.cc), so neither protocol can skip one.

#include "http/server.h"
#include "http/syntax.h"

namespace rf::http {

bool HostAllowed(std::string_view host, const std::vector<std::string>& allowed) {
  // "name:port", "[v6]:port", "name", "[v6]": compare the name only.
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    host = host.substr(0, close + 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com." is the same name
  if (host.empty()) return false;
  for (const std::string& a : allowed)
    if (syntax::IEquals(host, a)) return true;
  return false;
}

bool AdmitRequest(const ServerOptions& opt, unsigned shard, const Request& req,
                  const Router<Endpoint>::Match& m, Identity& who, Response& resp) {
  const bool found = m.kind == Router<Endpoint>::Match::Kind::kFound;
  who.authenticated = false;
  who.subject.clear();
  who.audit_pending = false;
  // First, so that every later refusal (421, 401, 403, 415) is recorded too; a full trail
  // refuses the request before anything else looks at it (the log fails closed).
  if (found && opt.audit && m.handler->audited && req.method != Method::kGet &&
      req.method != Method::kHead) {
    if (!opt.audit->Reserve(shard)) {
      resp.Error(503, "unavailable", "the audit log is full (its store is slow or failing): the "
                                     "request was not run; retry later");
      resp.AddHeader("Retry-After", "1");
      return false;
    }
    who.audit_pending = true;
  }
  if (!opt.allowed_hosts.empty() && !HostAllowed(req.Header("Host"), opt.allowed_hosts)) {
    resp.Error(421, "misdirected_request", "this server does not answer for that Host (--allowed-hosts)");
    return false;
  }
  if (!found) return true;
  if (opt.admission && !opt.admission->Admit(shard, req, *m.handler, m.params, who, resp)) return false;
  if (opt.json_mutations &&
      (req.method == Method::kPost || req.method == Method::kPut || req.method == Method::kPatch ||
       req.method == Method::kDelete) &&
      !IsJsonContentType(req.Header("Content-Type"))) {
    resp.Error(415, "unsupported_media_type",
               "a POST, PUT, PATCH or DELETE needs Content-Type: application/json, also with an "
               "empty body");
    return false;
  }
  return true;
}

bool IsJsonContentType(std::string_view ct) {
  std::string_view media = ct.substr(0, ct.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  constexpr std::string_view kApp = "application/";
  if (media.size() <= kApp.size() || !syntax::IEquals(media.substr(0, kApp.size()), kApp)) return false;
  const std::string_view sub = media.substr(kApp.size());
  return syntax::IEquals(sub, "json") || (sub.size() > 5 && syntax::IEquals(sub.substr(sub.size() - 5), "+json"));
}

}  // namespace rf::http

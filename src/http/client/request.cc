#include "http/client/request.h"

#include <algorithm>
#include <string_view>

namespace rf::http::client {
namespace {

bool IsTokenChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos);
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// field-value: no CTL but HTAB (so no CR, LF or NUL), no DEL.
bool IsFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

Error Invalid(std::string what) { return Error{Errc::kInvalidArgument, std::move(what)}; }

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

const char* DefaultUserAgent() {
#ifdef RF_VERSION
  return "ringflow/" RF_VERSION;
#else
  return "ringflow";
#endif
}

Status WriteRequest(const Request& req, const Url& url, std::string& out) {
  if (!IsToken(req.method)) return Invalid("invalid request method");
  bool caller_host = false;
  bool caller_agent = false;
  for (const auto& [name, value] : req.headers) {
    if (!IsToken(name)) return Invalid("invalid header name '" + name + "'");
    if (!IsFieldValue(value)) return Invalid("invalid character in value of header '" + name + "'");
    if (IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
        IEquals(name, "connection")) {
      return Invalid("header '" + name + "' is set by the client");
    }
    caller_host |= IEquals(name, "host");
    caller_agent |= IEquals(name, "user-agent");
  }
  const bool needs_length =
      !req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH";

  out.reserve(out.size() + 256 + url.target.size() + req.body.size());
  out.append(req.method);
  out.push_back(' ');
  out.append(url.target);
  out.append(" HTTP/1.1\r\n");
  if (!caller_host) AppendHeader(out, "Host", HostHeaderValue(url));
  if (!caller_agent) AppendHeader(out, "User-Agent", DefaultUserAgent());
  for (const auto& [name, value] : req.headers) AppendHeader(out, name, value);
  if (needs_length) AppendHeader(out, "Content-Length", std::to_string(req.body.size()));
  out.append("Connection: keep-alive\r\n\r\n");
  out.append(req.body);
  return {};
}

}  // namespace rf::http::client

#include "http/response.h"

namespace rf::http {

std::string_view StatusReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void AppendJsonString(Buffer& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.Append('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.Append(s.substr(start, i - start));
    start = i + 1;
    switch (c) {
      case '"':
        out.Append("\\\"");
        break;
      case '\\':
        out.Append("\\\\");
        break;
      case '\n':
        out.Append("\\n");
        break;
      case '\r':
        out.Append("\\r");
        break;
      case '\t':
        out.Append("\\t");
        break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.Append(std::string_view(esc, 6));
      }
    }
  }
  out.Append(s.substr(start));
  out.Append('"');
}

void Response::Error(int s, std::string_view code, std::string_view message,
                     std::string_view field) {
  status = s;
  content_type = "application/json";
  body.Clear();
  body.Append("{\"error\":{\"code\":");
  AppendJsonString(body, code);
  body.Append(",\"message\":");
  AppendJsonString(body, message);
  if (!field.empty()) {
    body.Append(",\"field\":");
    AppendJsonString(body, field);
  }
  body.Append("}}");
}

namespace {

void AppendStatusAndType(const Response& r, bool http10, std::string_view date_line, Buffer& out) {
  out.Append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out.AppendUnsigned(static_cast<unsigned>(r.status));
  out.Append(' ');
  out.Append(StatusReason(r.status));
  out.Append("\r\nServer: ringflow\r\n");
  out.Append(date_line);
  if (!r.content_type.empty()) {
    out.Append("Content-Type: ");
    out.Append(r.content_type);
    out.Append("\r\n");
  }
}

}  // namespace

void SerializeStreamHead(const Response& r, bool http10, std::string_view date_line, Buffer& out) {
  AppendStatusAndType(r, http10, date_line, out);
  out.Append("Connection: close\r\n");
  out.Append(r.extra_headers);
  out.Append("\r\n");
}

void SerializeResponse(const Response& r, bool keep_alive, bool http10, bool head_only,
                       std::string_view date_line, Buffer& out) {
  AppendStatusAndType(r, http10, date_line, out);
  // A 304 has no content, and a Content-Length would have to be the 200's (RFC 9110 8.6).
  const bool not_modified = r.status == 304;
  if (!not_modified) {
    out.Append("Content-Length: ");
    out.AppendUnsigned(r.body.size());
    out.Append("\r\n");
  }
  if (!keep_alive) {
    out.Append("Connection: close\r\n");
  } else if (http10) {
    out.Append("Connection: keep-alive\r\n");
  }
  out.Append(r.extra_headers);
  out.Append("\r\n");
  if (!head_only && !not_modified) out.Append(r.body.view());
}

}  // namespace rf::http

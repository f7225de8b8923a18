#pragma once
// Response: what a handler fills in. The connection serialises it into its
// output buffer (status line, Date, Content-Length, Connection) so handlers
// never touch framing. Body and extra headers live in buffers owned by the
// connection and reused across requests.

#include <string>
#include <string_view>

#include "base/buffer.h"

namespace rf::http {

struct Response {
  explicit Response(Buffer& body_buf, std::string& headers_buf)
      : body(body_buf), extra_headers(headers_buf) {}

  int status = 200;
  std::string_view content_type = "application/json";
  Buffer& body;
  std::string& extra_headers;  // raw "Name: value\r\n" lines
  bool close = false;          // close the connection after this response

  void AddHeader(std::string_view name, std::string_view value) {
    extra_headers += name;
    extra_headers += ": ";
    extra_headers += value;
    extra_headers += "\r\n";
  }
  void Json(int s, std::string_view json) {
    status = s;
    content_type = "application/json";
    body.Append(json);
  }
  // The one error shape of the API: {"error":{"code":..,"message":..[,"field":..]}}.
  void Error(int s, std::string_view code, std::string_view message, std::string_view field = {});
};

std::string_view StatusReason(int status);

// "HTTP/1.1 <status> <reason>\r\n" plus framing headers and the body, appended to out.
// head_only: HEAD request (headers as for GET, no body).
void SerializeResponse(const Response& r, bool keep_alive, bool http10, bool head_only,
                       std::string_view date_line, Buffer& out);

// The head of a streamed response: no Content-Length (the body ends when the
// connection closes), Connection: close.
void SerializeStreamHead(const Response& r, bool http10, std::string_view date_line, Buffer& out);

// Appends a JSON string literal (quotes included), escaping as RFC 8259 requires.
void AppendJsonString(Buffer& out, std::string_view s);

}  // namespace rf::http

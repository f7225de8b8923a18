#include "api/ui.h"

#include "ui/assets.h"

namespace rf::api {
namespace {

// The pages load only our own files: no inline script or style, no other origin, not framed.
constexpr std::string_view kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void Serve(const ui::Asset& a, http::RequestContext& rc) {
  http::Response& r = rc.resp;
  r.AddHeader("ETag", a.etag);
  // Revalidate every time: the files change with the binary, and a 304 costs one round trip.
  r.AddHeader("Cache-Control", "no-cache");
  r.AddHeader("X-Content-Type-Options", "nosniff");
  r.AddHeader("Content-Security-Policy", kPolicy);
  r.AddHeader("Referrer-Policy", "no-referrer");
  if (EtagMatches(rc.req.Header("If-None-Match"), a.etag)) {
    r.status = 304;
    r.content_type = {};
    return;
  }
  r.content_type = a.content_type;
  r.body.Append(a.body);
}

void Redirect(void*, http::RequestContext& rc) {
  rc.resp.status = 301;
  rc.resp.AddHeader("Location", "/ui/");
  rc.resp.content_type = "text/plain; charset=utf-8";
  rc.resp.body.Append("The web UI is at /ui/\n");
}

void Index(void*, http::RequestContext& rc) {
  const ui::Asset* a = ui::FindAsset("index.html");
  if (a == nullptr) {
    rc.resp.Error(404, "file_not_found", "this build has no web UI");
    return;
  }
  Serve(*a, rc);
}

// Query strings are ignored, as by any static file server (cache-busting "?v=" included).
void File(void*, http::RequestContext& rc) {
  const ui::Asset* a = ui::FindAsset(rc.params.Get("file"));
  if (a == nullptr) {
    rc.resp.Error(404, "file_not_found", "the web UI has no such file");
    return;
  }
  Serve(*a, rc);
}

}  // namespace

bool EtagMatches(std::string_view list, std::string_view etag) {
  auto opaque = [](std::string_view t) { return t.starts_with("W/") ? t.substr(2) : t; };
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view tag = Trim(list.substr(0, comma));
    if (tag == "*" || (!tag.empty() && opaque(tag) == opaque(etag))) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void AddUiRoutes(Routes& routes) {
  // Open: static files with no data; the pages call the API with the caller's rights.
  routes.Add(http::Method::kGet, "/ui", auth::Access::kOpen, {&Redirect, nullptr, nullptr});
  routes.Add(http::Method::kGet, "/ui/", auth::Access::kOpen, {&Index, nullptr, nullptr});
  routes.Add(http::Method::kGet, "/ui/{file}", auth::Access::kOpen, {&File, nullptr, nullptr});
}

}  // namespace rf::api

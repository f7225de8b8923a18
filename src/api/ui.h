#pragma once
// The web UI: its static files (ui/assets.h) served at /ui/ (reference: api/README.md, "Web UI").

#include "api/service.h"

namespace rf::api {

// GET /ui (a redirect to /ui/), GET /ui/ (index.html) and GET /ui/{file}; HEAD with each.
void AddUiRoutes(Routes& routes);

// If-None-Match (a list of entity tags, or "*") matches `etag` (weak comparison, RFC 9110 13.1.2).
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace rf::api

#pragma once
// The web UI's static files (src/ui/static), embedded into the binary at build time by
// embed_assets.py: no file is read at run time and nothing is fetched from elsewhere.

#include <string_view>

namespace rf::ui {

struct Asset {
  std::string_view name;          // flat file name: "index.html", "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8", ...
  std::string_view etag;          // strong entity tag of the content, quotes included
  std::string_view body;
};

// The file called `name`, or nullptr. Static storage; safe from every shard.
const Asset* FindAsset(std::string_view name);

}  // namespace rf::ui

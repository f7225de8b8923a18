#pragma once
// `ringflow serve`: wires the reactor, the HTTP server and the API together,
// handles SIGTERM/SIGINT (drain, then exit 0; a second signal exits at once).

#include "app/config.h"

namespace rf::app {

int Serve(const Config& config);

}  // namespace rf::app

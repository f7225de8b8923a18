#pragma once
// Per-shard HTTP counters. Routes are known at start-up, so requests are
// counted in a fixed table indexed by route id and status slot: no map lookup
// or allocation per request.

#include <array>
#include <string>
#include <vector>

#include "obs/metrics.h"

namespace rf::http {

constexpr size_t kMaxRoutes = 64;
constexpr std::array<int, 22> kStatusSlots = {100, 200, 201, 202, 204, 400, 404, 405, 408, 409, 413,
                                              415, 422, 429, 431, 500, 501, 502, 503, 504, 505, 0};

size_t StatusSlot(int status);  // index into kStatusSlots; the last slot is "other"

struct HttpStats {
  std::array<std::array<obs::Counter, kStatusSlots.size()>, kMaxRoutes> requests;
  std::array<obs::Histogram, kMaxRoutes> duration;
  obs::Gauge connections_open;
  obs::Counter connections_accepted;
  obs::Counter connections_closed;
  obs::Counter connections_rejected;
  obs::Counter timeouts;       // header, body (both 408) and idle timeouts
  obs::Counter body_timeouts;  // the body ones: --body-timeout or --body-min-rate
  obs::Counter lingering_closes;
  obs::Gauge buffer_bytes;  // capacity of the open connections' input, output and body buffers
  // HTTP/2 (h2/session.h): connections (prior knowledge or Upgrade), streams opened, GOAWAYs
  // sent, RST_STREAMs received, streams refused (too many handlers), streams reset for a stall,
  // sessions ended for a flood (PING/SETTINGS acks unread, CONTINUATION).
  obs::Counter h2_connections;
  obs::Counter h2_streams;
  obs::Counter h2_goaways;
  obs::Counter h2_resets_received;
  obs::Counter h2_refused;
  obs::Counter h2_stalled;
  obs::Counter h2_floods;
  // TLS: handshakes completed (of which resumed from a ticket or the cache), and failed.
  obs::Counter tls_handshakes;
  obs::Counter tls_resumed;
  obs::Counter tls_failures;
};

// Appends the HTTP metric families summed over shards (and the internal port's, --internal-listen:
// requests counted together, connection families labelled port="internal").
void RenderHttpMetrics(const std::vector<const HttpStats*>& listen,
                       const std::vector<std::string>& route_names, std::string& out,
                       const std::vector<const HttpStats*>& internal = {});

}  // namespace rf::http

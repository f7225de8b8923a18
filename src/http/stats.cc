#include "http/stats.h"

namespace rf::http {

size_t StatusSlot(int status) {
  for (size_t i = 0; i + 1 < kStatusSlots.size(); ++i)
    if (kStatusSlots[i] == status) return i;
  return kStatusSlots.size() - 1;
}

void RenderHttpMetrics(const std::vector<const HttpStats*>& listen,
                       const std::vector<std::string>& route_names, std::string& out,
                       const std::vector<const HttpStats*>& internal) {
  obs::TextExposition x(out);
  // Requests of both ports count together; connection families say which port.
  std::vector<const HttpStats*> shards = listen;
  shards.insert(shards.end(), internal.begin(), internal.end());
  x.Family("rf_http_requests_total", "counter", "HTTP requests by route and status.");
  for (size_t r = 0; r < route_names.size(); ++r) {
    for (size_t s = 0; s < kStatusSlots.size(); ++s) {
      uint64_t sum = 0;
      for (const HttpStats* st : shards) sum += st->requests[r][s].Get();
      if (sum == 0) continue;
      std::string labels = "route=\"" + obs::LabelValue(route_names[r]) + "\",status=\"" +
                           (kStatusSlots[s] ? std::to_string(kStatusSlots[s]) : "other") + "\"";
      x.SampleU("rf_http_requests_total", labels, sum);
    }
  }
  x.Family("rf_http_request_duration_seconds", "histogram",
           "Time from a complete request to its response being queued.");
  for (size_t r = 0; r < route_names.size(); ++r) {
    std::vector<const obs::Histogram*> parts;
    uint64_t count = 0;
    for (const HttpStats* st : shards) {
      parts.push_back(&st->duration[r]);
      count += st->duration[r].Count();
    }
    if (count == 0) continue;
    x.HistogramSum("rf_http_request_duration_seconds",
                   "route=\"" + obs::LabelValue(route_names[r]) + "\"", parts);
  }
  auto per_shard = [&](const char* name, const char* type, const char* help, auto get) {
    x.Family(name, type, help);
    for (size_t i = 0; i < listen.size(); ++i)
      x.Sample(name, "shard=\"" + std::to_string(i) + "\"", static_cast<double>(get(*listen[i])));
    for (size_t i = 0; i < internal.size(); ++i)
      x.Sample(name, "shard=\"" + std::to_string(i) + "\",port=\"internal\"",
               static_cast<double>(get(*internal[i])));
  };
  per_shard("rf_http_connections_open", "gauge", "Open client connections.",
            [](const HttpStats& s) { return s.connections_open.Get(); });
  per_shard("rf_http_connections_accepted_total", "counter", "Accepted client connections.",
            [](const HttpStats& s) { return s.connections_accepted.Get(); });
  per_shard("rf_http_connections_closed_total", "counter", "Closed client connections.",
            [](const HttpStats& s) { return s.connections_closed.Get(); });
  per_shard("rf_http_connections_rejected_total", "counter",
            "Connections refused with 503 above --max-connections.",
            [](const HttpStats& s) { return s.connections_rejected.Get(); });
  per_shard("rf_http_timeouts_total", "counter",
            "Connections closed by header, body or idle timeout.",
            [](const HttpStats& s) { return s.timeouts.Get(); });
  per_shard("rf_http_body_timeouts_total", "counter",
            "Requests cut off with 408 because the body took longer than --body-timeout or "
            "arrived slower than --body-min-rate.",
            [](const HttpStats& s) { return s.body_timeouts.Get(); });
  per_shard("rf_http_lingering_closes_total", "counter",
            "Connections half-closed after an error reply, their further input read and dropped "
            "(bounded) so the client can read the reply.",
            [](const HttpStats& s) { return s.lingering_closes.Get(); });
  per_shard("rf_http_connection_buffer_bytes", "gauge",
            "Memory reserved by the input, output and body buffers of open connections.",
            [](const HttpStats& s) { return s.buffer_bytes.Get(); });
  per_shard("rf_http2_connections_total", "counter",
            "Connections that spoke HTTP/2 (prior knowledge or Upgrade: h2c).",
            [](const HttpStats& s) { return s.h2_connections.Get(); });
  per_shard("rf_http2_streams_total", "counter", "HTTP/2 request streams opened.",
            [](const HttpStats& s) { return s.h2_streams.Get(); });
  per_shard("rf_http2_goaways_sent_total", "counter", "HTTP/2 GOAWAY frames sent.",
            [](const HttpStats& s) { return s.h2_goaways.Get(); });
  per_shard("rf_http2_resets_received_total", "counter", "HTTP/2 RST_STREAM frames received.",
            [](const HttpStats& s) { return s.h2_resets_received.Get(); });
  per_shard("rf_http2_streams_refused_total", "counter",
            "HTTP/2 streams refused because too many handlers of reset streams still ran.",
            [](const HttpStats& s) { return s.h2_refused.Get(); });
  per_shard("rf_http2_streams_stalled_total", "counter",
            "HTTP/2 streams reset because their response made no progress (no flow-control "
            "window) or their request did not complete in time.",
            [](const HttpStats& s) { return s.h2_stalled.Get(); });
  per_shard("rf_http2_floods_total", "counter",
            "HTTP/2 connections ended for a flood (unread PING/SETTINGS acks, CONTINUATIONs).",
            [](const HttpStats& s) { return s.h2_floods.Get(); });
  per_shard("rf_http_tls_handshakes_total", "counter", "TLS handshakes completed.",
            [](const HttpStats& s) { return s.tls_handshakes.Get(); });
  per_shard("rf_http_tls_resumed_total", "counter",
            "TLS handshakes that resumed a session (ticket or cache).",
            [](const HttpStats& s) { return s.tls_resumed.Get(); });
  per_shard("rf_http_tls_failures_total", "counter",
            "TLS handshakes or records that failed (bad client hello, alert, timeout).",
            [](const HttpStats& s) { return s.tls_failures.Get(); });
}

}  // namespace rf::http

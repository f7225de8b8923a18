#include <unistd.h>

#include <cstdio>
#include <span>

#include "api/service.h"
#include "base/check.h"
#include "http/stats.h"
#include "obs/metrics.h"

namespace rf::api {

using http::RequestContext;

void Routes::Add(http::Method method, std::string_view pattern, auth::Access access,
                 http::Endpoint ep) {
  uint16_t id = 0;
  for (size_t i = 1; i < names.size(); ++i)
    if (names[i] == pattern) id = static_cast<uint16_t>(i);
  if (id == 0) {
    names.emplace_back(pattern);
    id = static_cast<uint16_t>(names.size() - 1);
  }
  ep.route_id = id;
  ep.access = static_cast<uint8_t>(access);
  ep.audited = pattern.starts_with("/v1/");  // its mutations go to the audit log (audit_gate.h)
  router.Add(method, pattern, ep);
  table.push_back({method, std::string(pattern), access});
}

void Routes::AddScoped(http::Method method, std::string_view pattern, auth::Access access,
                       http::Endpoint ep) {
  Add(method, pattern, access, ep);
  constexpr std::string_view kV1 = "/v1/";
  RF_CHECK(pattern.starts_with(kV1));
  Add(method, "/v1/namespaces/{ns}/" + std::string(pattern.substr(kV1.size())), access, ep);
}

namespace {

void Health(void* ctx, RequestContext& rc) {
  auto* s = static_cast<ServiceState*>(ctx);
  Buffer& b = rc.resp.body;
  b.Append(s->draining.load(std::memory_order_relaxed) ? "{\"status\":\"draining\",\"version\":"
                                                       : "{\"status\":\"ok\",\"version\":");
  http::AppendJsonString(b, s->version);
  b.Append(",\"uptime_s\":");
  b.AppendUnsigned(static_cast<unsigned long long>((MonoNow() - s->started_mono) / kSeconds));
  b.Append(",\"shards\":");
  b.AppendUnsigned(s->shards);
  b.Append("}");
}

void Live(void*, RequestContext& rc) { rc.resp.body.Append("{\"status\":\"live\"}"); }

void Ready(void* ctx, RequestContext& rc) {
  auto* s = static_cast<ServiceState*>(ctx);
  if (s->Ready()) {
    Buffer& b = rc.resp.body;
    b.Append("{\"status\":\"ready\",\"degraded\":[");
    if (s->degraded) {
      bool first = true;
      for (const ServiceState::Degraded& d : s->degraded()) {
        b.Append(first ? "{\"component\":" : ",{\"component\":");
        first = false;
        http::AppendJsonString(b, d.component);
        b.Append(",\"effect\":");
        http::AppendJsonString(b, d.effect);
        b.Append("}");
      }
    }
    b.Append("]}");
    return;
  }
  rc.resp.Error(503, "unavailable",
                s->draining.load()                     ? "shutting down"
                : s->engine && !s->engine->ready()     ? "the engine is opening its store"
                : s->engine && !s->engine->stores_healthy() ? "the store (PostgreSQL) is unavailable"
                                                       : "not every shard is serving yet");
  rc.resp.AddHeader("Retry-After", "1");
}

long ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages = 0, rss = 0;
  int n = std::fscanf(f, "%ld %ld", &pages, &rss);
  std::fclose(f);
  return n == 2 ? rss * sysconf(_SC_PAGESIZE) : 0;
}

void Metrics(void* ctx, RequestContext& rc) {
  auto* s = static_cast<ServiceState*>(ctx);
  // Scrapes are rare; building in a std::string keeps the exposition helpers simple.
  thread_local std::string out;
  out.clear();
  std::vector<const http::HttpStats*> parts;
  for (size_t i = 0; i < s->shards; ++i) parts.push_back(&s->server->stats(static_cast<unsigned>(i)));
  std::vector<const http::HttpStats*> internal;
  if (s->internal_server)
    for (size_t i = 0; i < s->shards; ++i) internal.push_back(&s->internal_server->stats(static_cast<unsigned>(i)));
  http::RenderHttpMetrics(parts, s->server->route_names(), out, internal);

  obs::TextExposition x(out);
  auto labels_of = [&](const reactor::Shard& sh, size_t i) {
    return "shard=\"" + std::to_string(i) + "\",cpu=\"" + std::to_string(sh.cpu()) +
           "\",numa_node=\"" + std::to_string(sh.numa_node()) + "\"";
  };
  auto per_shard = [&](const char* name, const char* type, const char* help, auto get) {
    x.Family(name, type, help);
    for (size_t i = 0; i < s->shards; ++i) {
      reactor::Shard& sh = s->reactor->shard(static_cast<unsigned>(i));
      x.Sample(name, labels_of(sh, i), static_cast<double>(get(sh.stats())));
    }
  };
  using reactor::ShardStats;
  per_shard("rf_reactor_loop_iterations_total", "counter", "Event loop turns per shard.",
            [](ShardStats& st) { return st.loop_iterations.Get(); });
  per_shard("rf_reactor_completions_total", "counter", "io_uring completions reaped per shard.",
            [](ShardStats& st) { return st.completions.Get(); });
  per_shard("rf_reactor_mailbox_depth", "gauge", "Cross-shard messages waiting for the shard.",
            [](ShardStats& st) { return st.mailbox_depth.Get(); });
  x.Family("rf_reactor_turn_seconds", "histogram",
           "One event loop turn's work per shard (the ring's answer to the next wait): how long "
           "a request that arrives meanwhile waits to be read.");
  for (size_t i = 0; i < s->shards; ++i) {
    reactor::Shard& sh = s->reactor->shard(static_cast<unsigned>(i));
    const obs::Histogram* turn = &sh.stats().turn;
    x.HistogramSum("rf_reactor_turn_seconds", labels_of(sh, i), std::span(&turn, 1));
  }
  per_shard("rf_reactor_mailbox_full_total", "counter",
            "Cross-shard sends that found the destination mailbox full and were held back.",
            [](ShardStats& st) { return st.mailbox_full.Get(); });

  if (s->engine) {
    engine::RenderEngineMetrics(s->engine->metrics(), out);
    s->engine->RenderStoreMetrics(out);
    engine::RenderHistoryMetrics(s->engine->history_stats(), out);
  }

  if (s->more_metrics) s->more_metrics(out);

  x.Family("rf_build_info", "gauge", "Build information.");
  x.Sample("rf_build_info", "version=\"" + obs::LabelValue(s->version) + "\"", 1);
  x.Family("rf_process_start_time_seconds", "gauge", "Start time of the process since the epoch.");
  x.Sample("rf_process_start_time_seconds", "", s->started_unix);
  x.Family("rf_process_resident_memory_bytes", "gauge", "Resident set size.");
  x.Sample("rf_process_resident_memory_bytes", "", static_cast<double>(ResidentBytes()));
  x.Family("rf_ready", "gauge", "1 when every shard serves and the process is not draining.");
  x.Sample("rf_ready", "", s->Ready() ? 1 : 0);

  rc.resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  rc.resp.body.Append(out);
}

}  // namespace

void AddOperationalRoutes(Routes& routes, ServiceState* state) {
  using http::Method;
  routes.Add(Method::kGet, "/health", auth::Access::kOpen, {&Health, nullptr, state});
  routes.Add(Method::kGet, "/health/live", auth::Access::kOpen, {&Live, nullptr, state});
  routes.Add(Method::kGet, "/health/ready", auth::Access::kOpen, {&Ready, nullptr, state});
  routes.Add(Method::kGet, "/metrics", auth::Access::kMetrics, {&Metrics, nullptr, state});
}

}  // namespace rf::api

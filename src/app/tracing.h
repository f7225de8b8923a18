#pragma once
// Tracing: the daemon's tracers (one per shard, trace/tracer.h) and their OTLP exporters. Each
// shard's exporter runs on that shard and sends its own batches with its own outbound HTTP client
// (http/client, allow-all egress: the operator named the endpoint), so exporting shares nothing
// between shards and never waits on a shard's hot path.

#include <memory>
#include <string>
#include <vector>

#include "app/config.h"
#include "http/client/client.h"
#include "reactor/reactor.h"
#include "reactor/task.h"
#include "trace/tracer.h"

namespace rf::app {

class Tracing {
 public:
  // `tls`: the CAs an https --otlp-endpoint is verified with (those of http steps); null: https
  // endpoints fail each export (counted).
  Tracing(const Config& config, unsigned shards, const tls::TlsClientContext* tls = nullptr);
  ~Tracing();

  bool exporting() const { return !options_.endpoint.empty(); }
  // What the engine records into (Engine::SetTracers); valid for the object's life.
  std::vector<trace::Tracer*> tracers() const;
  // On shard `shard`'s thread, once: starts its exporter (nothing without --otlp-endpoint).
  void StartShard(unsigned shard);
  // After the engine closed (no more spans): each shard sends what it holds once more, then
  // frees its client on its own thread. Suspends.
  reactor::Task<void> Stop(unsigned shards);
  void RenderMetrics(std::string& out) const;

 private:
  static void StopOn(Tracing* self, unsigned shard);
  static reactor::Task<bool> StoppedOn(Tracing* self, unsigned shard);

  trace::TraceOptions options_;
  http::client::EgressPolicy egress_;
  std::vector<std::unique_ptr<trace::TraceStats>> stats_;
  std::vector<std::unique_ptr<trace::Tracer>> tracers_;
  std::vector<std::unique_ptr<http::client::Client>> clients_;  // destroyed on their shards
};

}  // namespace rf::app

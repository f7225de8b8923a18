#include "app/tracing.h"

#include "base/check.h"
#include "obs/log.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"

namespace rf::app {
namespace {

// One OTLP/HTTP request: POST the JSON batch, answer with the status. Suspends.
reactor::Task<Result<int>> PostOtlp(http::client::Client* client, std::string url, std::string body,
                                    Deadline deadline) {
  http::client::Request req;
  req.method = "POST";
  req.url = std::move(url);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::move(body);
  req.connect_timeout = std::min<Nanos>(req.connect_timeout, deadline.Remaining());
  req.deadline = deadline;
  auto r = co_await client->Send(std::move(req));  // suspends
  if (!r) co_return r.error();
  co_return r->status;
}

}  // namespace

Tracing::Tracing(const Config& config, unsigned shards, const tls::TlsClientContext* tls) {
  options_.endpoint = config.otlp_endpoint;
  options_.sample_ratio = config.otlp_sample_ratio;
  options_.service_name = config.service_name;
  options_.service_version = RF_VERSION;
  options_.buffer_spans = config.otlp_buffer;
  auto allow_all = http::client::EgressPolicy::Parse("", http::client::EgressMode::kAllowAll);
  RF_CHECK(allow_all.has_value());
  egress_ = std::move(*allow_all);
  for (unsigned i = 0; i < shards; ++i) {
    stats_.push_back(std::make_unique<trace::TraceStats>());
    tracers_.push_back(std::make_unique<trace::Tracer>(options_, stats_.back().get()));
    if (exporting()) {
      http::client::Client::Options co;
      co.egress = &egress_;
      co.tls = tls;
      co.max_idle_per_host = 2;
      co.max_response_bytes = 1 << 20;  // an ExportTraceServiceResponse is small
      clients_.push_back(std::make_unique<http::client::Client>(co));
    }
  }
  if (exporting())
    RF_LOG(kInfo, "tracing: exporting spans", {"otlp_endpoint", options_.endpoint},
           {"sample_ratio", options_.sample_ratio}, {"service_name", options_.service_name});
}

Tracing::~Tracing() = default;

std::vector<trace::Tracer*> Tracing::tracers() const {
  std::vector<trace::Tracer*> out;
  for (const auto& t : tracers_) out.push_back(t.get());
  return out;
}

void Tracing::StartShard(unsigned shard) {
  if (!exporting() || shard >= tracers_.size()) return;
  http::client::Client* client = clients_[shard].get();
  const std::string url = options_.endpoint;
  reactor::Spawn(tracers_[shard]->Export([client, url](std::string body, Deadline deadline) {
    return PostOtlp(client, url, std::move(body), deadline);
  }));
}

void Tracing::StopOn(Tracing* self, unsigned shard) { self->tracers_[shard]->Stop(); }

reactor::Task<bool> Tracing::StoppedOn(Tracing* self, unsigned shard) {
  if (self->tracers_[shard]->exporting()) co_return false;
  self->clients_[shard].reset();  // its pool's timers live on this shard
  co_return true;
}

reactor::Task<void> Tracing::Stop(unsigned shards) {
  if (!exporting()) co_return;
  for (unsigned i = 0; i < shards && i < tracers_.size(); ++i) {
    co_await reactor::SubmitTo(i, &StopOn, this, i);  // suspends
  }
  // The last batches get one try each, bounded by the export timeout.
  for (unsigned i = 0; i < shards && i < tracers_.size(); ++i) {
    // A batch under way when Stop came may take its export timeout, then the last one 1 s.
    const Deadline until = Deadline::After(options_.export_timeout + 2 * kSeconds);
    while (true) {
      bool done = co_await reactor::SubmitTo(i, &StoppedOn, this, i);  // suspends
      if (done) break;
      if (until.Expired()) {
        RF_LOG(kWarn, "tracing: a shard's last export did not finish", {"shard", i});
        // Its exporter still uses the client: leave it to the process's end rather than destroy
        // it off its shard.
        (void)clients_[i].release();
        break;
      }
      co_await reactor::Sleep(10 * kMillis);  // suspends
    }
  }
}

void Tracing::RenderMetrics(std::string& out) const {
  std::vector<const trace::TraceStats*> parts;
  for (const auto& s : stats_) parts.push_back(s.get());
  trace::RenderTraceMetrics(parts, out);
}

}  // namespace rf::app

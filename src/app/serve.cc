#include "app/serve.h"

#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#if RF_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include <algorithm>
#include <optional>
#include <thread>

#include "api/auth_gate.h"
#include "api/openapi.h"
#include "api/slo.h"
#include "api/v1.h"
#include "app/daemon.h"
#include "app/data_dir.h"
#include "app/stores.h"
#include "auth/crypto.h"
#include "auth/jwt.h"
#include "base/check.h"
#include "obs/log.h"
#include "quota/quota.h"
#include "store/redis/redis_event_bus.h"

namespace rf::app {
namespace {

#if RF_HAVE_MIMALLOC
// Referencing mimalloc keeps it linked (--as-needed) so it replaces malloc.
const std::string kAllocator = "mimalloc " + std::to_string(mi_version());
#else
const std::string kAllocator = "libc";
#endif


}  // namespace

int Serve(const Config& config) {
  // Signals go to the signalfd read on shard 0; every thread inherits the mask.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);  // reloads the JWKS (ReloadJwks) and the TLS certificate (ReloadTls)
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Daemon d(config);
  d.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (d.signal_fd < 0) {
    RF_LOG(kError, "signalfd failed", {"error", strerror(errno)});
    return 1;
  }

  if (auto st = LockDataDir(config.data_dir); !st) {
    RF_LOG(kError, "cannot use the data directory", {"data_dir", config.data_dir},
           {"error", st.error().ToString()});
    return 1;
  }
  // https for http steps: the CA bundle is read (tens of ms, blocking) on a thread of its own
  // while the stores open, before the shards run.
  std::optional<Result<std::unique_ptr<tls::TlsClientContext>>> http_tls;
  std::thread ca_reader([&] { http_tls = tls::TlsClientContext::Load(config.http_ca_file); });
  Stores stores;
  const int opened = OpenStores(config, stores);
  ca_reader.join();
  if (opened != 0) return opened;
  engine::EngineOptions eo;
  eo.data_dir = config.data_dir;
  eo.fsync = config.fsync;
  eo.retention = config.retention;
  eo.snapshot_bytes = config.snapshot_bytes;
  eo.history_cache = config.history_cache;
  eo.history_read_age = config.history_read_age;
  eo.http_concurrency = config.http_concurrency;
  eo.http_timeout = config.http_timeout;
  eo.default_breaker = config.circuit_breaker;
  eo.max_breakers = config.breakers_max;
  eo.max_permit_waiters = config.step_permit_waiters;
  eo.max_workflow_depth = static_cast<uint32_t>(config.max_workflow_depth);
  eo.max_map_items = static_cast<int64_t>(config.max_map_items);
  eo.sse_buffer = config.sse_buffer;
  // Validated by LoadConfig already.
  auto egress = http::client::EgressPolicy::Parse(config.egress_allow, config.egress_mode);
  RF_CHECK(egress.has_value());
  d.egress = std::move(*egress);
  if (config.egress_mode == http::client::EgressMode::kAllowAll) {
    RF_LOG(kWarn, "egress policy allow-all: http steps may connect to any address, "
                  "loopback and cloud metadata (169.254.169.254) included");
  } else {
    RF_LOG(kInfo, "egress policy", {"policy", d.egress.Describe()});
  }
  if (auto& t = *http_tls; t) {
    d.http_tls = std::move(*t);
    RF_LOG(kInfo, "https for http steps", {"ca_file", d.http_tls->ca_file()});
  } else if (!config.http_ca_file.empty()) {
    RF_LOG(kError, "cannot use --http-ca-file", {"error", t.error().ToString()});
    return 2;
  } else {
    RF_LOG(kWarn, "http steps cannot call https URLs: no system CA bundle (install ca-certificates "
                  "or give --http-ca-file)", {"error", t.error().context});
  }
  std::vector<engine::HttpExecutor*> http_steps;
  for (unsigned i = 0; i < config.shards; ++i) {
    d.client_stats.push_back(std::make_unique<http::client::ClientStats>());
    http::client::Client::Options co;
    co.egress = &d.egress;
    co.tls = d.http_tls.get();
    co.stats = d.client_stats.back().get();
    d.executors.push_back(std::make_unique<steps::ClientHttpExecutor>(co));
    http_steps.push_back(d.executors.back().get());
  }
  if (config.store == Store::kPostgres) {
    auto allow_all = http::client::EgressPolicy::Parse("", http::client::EgressMode::kAllowAll);
    RF_CHECK(allow_all.has_value());
    d.forward_egress = std::move(*allow_all);
    if (!config.tls_cert.empty()) {
      // Every daemon of a cluster serves what this one serves: peers speak https only.
      // The certificate goes along: a peer's --internal-listen asks for one (mutual TLS).
      auto t = tls::TlsClientContext::Load(config.peer_ca_file, config.tls_cert, config.tls_key);  // blocking
      if (!t) {
        RF_LOG(kError, "cannot verify the other daemons' certificates (--peer-ca-file)", {"error", t.error().ToString()});
        return 2;
      }
      d.peer_tls = std::move(*t);
      RF_LOG(kInfo, "forwarding to peers over https", {"ca_file", d.peer_tls->ca_file()});
    }
    for (unsigned i = 0; i < config.shards; ++i) {
      http::client::Client::Options co;
      co.egress = &d.forward_egress;
      co.tls = d.peer_tls.get();
      d.forward_clients.push_back(std::make_unique<http::client::Client>(co));
      d.forward_stats.push_back(std::make_unique<api::ForwardStats>());
    }
  }
  d.state.more_metrics = [&d, b = stores.bus.get(), m = stores.members.get()](std::string& out) {
    std::vector<const http::client::ClientStats*> parts;
    for (const auto& st : d.client_stats) parts.push_back(st.get());
    http::client::RenderClientMetrics(parts, out);
    std::vector<const api::ForwardStats*> fwd;
    for (const auto& st : d.forward_stats) fwd.push_back(st.get());
    if (!fwd.empty()) api::RenderForwardMetrics(fwd, out);
    if (b) b->RenderMetrics(out);
    if (m) m->RenderMetrics(out);
  };
  engine::Engine engine(config.shards, eo, http_steps, stores.factory.get());
  if (stores.bus) engine.SetEventBus(stores.bus.get());
  if (stores.members) engine.SetMemberDirectory(stores.members.get());
  // Without a shared database there is no authority: this daemon leads every job, unfenced.
  store::Leadership leadership({.holder = stores.holder, .ttl = config.leader_ttl, .renew = config.leader_renew},
                               stores.authority.get(), stores.arbiter.get());
  engine.SetLeadership(&leadership);
  if (!stores.permit_shares.empty()) {
    std::vector<store::PermitShare*> shares;
    for (const auto& s : stores.permit_shares) shares.push_back(s.get());
    engine.SetPermitShares(shares);
  }
  d.leadership = &leadership;
  {
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [previous, &leadership, a = stores.arbiter.get()](std::string& out) {
      previous(out);
      leadership.RenderMetrics(out);
      if (const store::redis::RedisStats* rs = a ? a->stats() : nullptr)
        store::redis::RenderRedisMetrics({rs}, out);
    };
  }
  d.state.degraded = [&leadership, b = stores.bus.get(), m = stores.members.get()]() {
    std::vector<api::ServiceState::Degraded> out;
    const bool election_down = leadership.arbiter_configured() && !leadership.arbiter_up();
    if ((b && !b->up()) || election_down || (m && !m->up()))
      out.push_back({"redis", "event streams of runs held by other daemons pause (local ones go on); "
                              "leader election of singleton jobs runs on PostgreSQL alone; "
                              "cluster membership comes from PostgreSQL beats alone"});
    return out;
  };
  Tracing tracing(config, config.shards, d.http_tls.get());
  engine.SetTracers(tracing.tracers());
  d.tracing = &tracing;
  {
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [&d, previous](std::string& out) {
      previous(out);
      d.tracing->RenderMetrics(out);
    };
  }
  d.engine = &engine;
  d.state.engine = &engine;

  std::vector<auth::Authenticator*> auth_shards;
  if (int rc = SetUpAuth(d, *stores.factory, auth_shards); rc != 0) return rc;
  auto secrets_key = LoadSecretsKey(config);
  if (!secrets_key) {
    RF_LOG(kError, "cannot use the secrets key", {"error", secrets_key.error().context});
    return 2;
  }
  d.security = std::make_unique<Security>(config, *stores.factory, *secrets_key);
  if (d.security->audit) d.security->audit->SetLeadership(&leadership);
  for (unsigned i = 0; i < config.shards; ++i) {
    auth::SecretVault* vault = d.security->vaults[i].get();
    d.executors[i]->SetSecrets(
        [vault](std::string_view ns, std::string_view name) { return vault->Reveal(ns, name); });
  }
  api::AuthGate gate({.enabled = config.auth, .metrics_auth = config.metrics_auth,
                      .peer_secret = stores.cluster_secret},
                     auth_shards);
  if (!config.quotas_file.empty()) {
    auto text = ReadSmallFile(config.quotas_file);
    auto parsed = text ? quota::ParseConfig(*text) : Result<quota::Config>(text.error());
    if (!parsed) {
      RF_LOG(kError, "cannot use --quotas-file", {"quotas_file", config.quotas_file},
             {"error", parsed.error().ToString()});
      return 2;
    }
    d.ns_egress = std::make_unique<NamespaceEgress>(config.shards, config.egress_allow, config.egress_mode);
    for (unsigned i = 0; i < config.shards; ++i) {
      auto table = d.ns_egress->Build(*parsed);
      if (!table) {
        RF_LOG(kError, "cannot use --quotas-file", {"quotas_file", config.quotas_file},
               {"error", table.error().ToString()});
        return 2;
      }
      d.ns_egress->Set(i, std::move(*table));
      d.executors[i]->SetEgress([ne = d.ns_egress.get(), i](std::string_view ns) { return ne->For(i, ns); });
    }
    RF_LOG(kInfo, "quotas per namespace", {"quotas_file", config.quotas_file},
           {"namespaces", parsed->namespaces.size()}, {"egress_allowlists", d.ns_egress->size(0)});
    // A start refused for its retained history may retry about when retention looks again.
    const Nanos history_retry = std::clamp<Nanos>(config.retention / 4, kSeconds, 60 * kSeconds);
    engine.WantHistoryBytes(parsed->caps_history());
    d.quotas = std::make_unique<api::Quotas>(
        config.shards, std::make_shared<const quota::Config>(std::move(*parsed)), &engine.metrics().members,
        &engine.metrics().namespaces, history_retry);
    if (!stores.quota_shares.empty()) {
      std::vector<store::QuotaShare*> shares;
      for (const auto& s : stores.quota_shares) shares.push_back(s.get());
      d.quotas->EnableSharing(std::move(shares));
      RF_LOG(kInfo, "quotas shared by the cluster through Redis (--redis-url)");
    }
    gate.EnableQuotas(d.quotas.get());
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [&d, previous](std::string& out) {
      previous(out);
      d.quotas->RenderMetrics(d.engine->metrics().namespaces, out);
    };
  }
  {
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [&d, previous](std::string& out) {
      previous(out);
      std::vector<const auth::Authenticator*> parts;
      for (const auto& a : d.authenticators) parts.push_back(a.get());
      auth::RenderAuthMetrics(parts, out);
      d.security->RenderMetrics(out);
      if (d.bulk) d.bulk->RenderMetrics(out);
    };
  }

  {
    schedule::SchedulerOptions so;
    so.zone_dir = config.zone_dir;
    so.test_clock_file = config.test_clock_file;
    if (!so.test_clock_file.empty())
      RF_LOG(kWarn, "--test-clock-file: the schedulers read their clock from a file (tests only)",
             {"file", so.test_clock_file});
    d.schedules = std::make_unique<schedule::Schedulers>(&engine, std::move(so), stores.factory.get(), config.shards);
    if (d.quotas) {
      api::Quotas* q = d.quotas.get();
      d.schedules->SetStartGate(
          {[q](unsigned shard, std::string_view ns) { return q->AdmitScheduledStart(shard, ns); },
           [q](unsigned shard, std::string_view ns) { return q->LiveLimit(shard, ns); }});
    }
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [&d, previous](std::string& out) {
      previous(out);
      d.schedules->RenderMetrics(out);
    };
  }

  api::Routes routes;
  api::V1Api v1(&engine);
  v1.EnableSchedules(d.schedules.get());
  d.state.schedules_open = d.schedules->open_flag();
  v1.EnableKeys(d.keys.get());
  if (d.quotas) v1.EnableQuotas(d.quotas.get());
  v1.EnableSecrets(d.security->secrets.get());
  v1.EnableAudit(d.security->audit.get());
  d.bulk = std::make_unique<api::BulkOperations>(config.shards);
  v1.EnableBulk(d.bulk.get());
  if (!d.forward_clients.empty()) {
    std::vector<http::client::Client*> clients;
    std::vector<api::ForwardStats*> stats;
    for (size_t i = 0; i < d.forward_clients.size(); ++i) {
      clients.push_back(d.forward_clients[i].get());
      stats.push_back(d.forward_stats[i].get());
    }
    v1.EnableForwarding(std::move(clients), std::move(stats), d.peer_tls != nullptr, stores.cluster_secret);
  }
  api::AddAllRoutes(routes, &d.state, v1);

  http::ServerOptions so;
  so.host = config.listen_host;
  so.port = config.listen_port;
  so.limits.max_body = config.max_body;
  so.max_connections = config.max_connections;
  so.header_timeout = config.header_timeout;
  so.idle_timeout = config.idle_timeout;
  so.body_timeout = config.body_timeout;
  so.body_min_rate = config.body_min_rate;
  so.max_pipeline = config.max_pipeline;
  so.h2_max_streams = static_cast<uint32_t>(config.http2_max_streams);
  std::unique_ptr<tls::TlsContext> tls;
  if (!config.tls_cert.empty()) {
    auto t = tls::TlsContext::Load(config.tls_cert, config.tls_key);
    if (!t) {
      RF_LOG(kError, "cannot serve TLS", {"error", t.error().ToString()});
      return 2;
    }
    tls = std::move(*t);
    so.tls = tls.get();
    d.tls = tls.get();
  }
  so.access_log = config.access_log;
  so.admission = &gate;
  so.audit = d.security->audit_gate.get();
  so.allowed_hosts = config.allowed_hosts;
  so.json_mutations = config.json_mutations;
  http::Server server(so, config.shards, &routes.router, routes.names);
  if (auto st = server.Listen(); !st) {
    RF_LOG(kError, "cannot listen", {"listen", config.listen}, {"error", st.error().ToString()});
    return 1;
  }
  // The port other daemons forward to: the same API, but only for clients whose certificate
  // chains to --internal-client-ca; the Host check is the public port's (peers name this one).
  std::unique_ptr<tls::TlsContext> internal_tls;
  std::unique_ptr<http::Server> internal;
  if (!config.internal_listen.empty()) {
    auto t = tls::TlsContext::Load(config.tls_cert, config.tls_key, config.internal_client_ca);
    if (!t) {
      RF_LOG(kError, "cannot serve the internal port", {"error", t.error().ToString()});
      return 2;
    }
    internal_tls = std::move(*t);
    http::ServerOptions io = so;
    io.host = config.internal_host;
    io.port = config.internal_port;
    io.tls = internal_tls.get();
    io.allowed_hosts.clear();
    internal = std::make_unique<http::Server>(io, config.shards, &routes.router, routes.names);
    if (auto st = internal->Listen(); !st) {
      RF_LOG(kError, "cannot listen", {"internal_listen", config.internal_listen}, {"error", st.error().ToString()});
      return 1;
    }
    d.internal = internal.get();
    d.internal_tls = internal_tls.get();
    d.state.internal_server = internal.get();
  }

  reactor::Reactor reactor({.cpus = config.cpus, .pin = config.pin});
  d.reactor = &reactor;
  d.server = &server;
  d.state.version = RF_VERSION;
  d.state.started_mono = MonoNow();
  d.state.started_unix = static_cast<double>(WallNow()) / 1e9;
  d.state.shards = config.shards;
  d.state.server = &server;
  d.state.reactor = &reactor;
  api::SloService slo({.availability = config.slo_availability,
                       .latency_ms = static_cast<int64_t>(config.slo_latency_ms),
                       .latency_target = config.slo_latency_target},
                      &d.state, SloPersistence(config.data_dir));
  d.state.slo = &slo;

  auto st = reactor.Run([&](reactor::Shard& shard) {
    RF_LOG(kInfo, "shard started", {"cpu", shard.cpu()}, {"pinned", config.pin ? "yes" : "no"},
           {"numa_node", shard.numa_node()},
           {"io_uring", shard.features().Describe()});
    server.Start(shard);
    if (internal) internal->Start(shard);
    tracing.StartShard(shard.id());
    if (d.quotas) d.quotas->StartShard(shard.id());
    if (shard.id() == 0) {
      reactor::Spawn(WatchSignals(&d), &d.signal_watcher);
      reactor::Spawn(slo.Sample(&d.slo_stop), &d.slo_sampler);
      reactor::Spawn(OpenEngine(&d, config.listen_host + ":" + std::to_string(server.port())));
    }
    if (d.started.fetch_add(1) + 1 == config.shards) {
      std::string where = config.listen_host + ":" + std::to_string(server.port());
      RF_LOG(kInfo, "serving", {"listen", where}, {"shards", config.shards}, {"version", RF_VERSION},
             {"allocator", kAllocator});
      if (internal)
        RF_LOG(kInfo, "serving the internal port (client certificates required)",
               {"internal_listen", config.internal_host + ":" + std::to_string(internal->port())},
               {"client_ca", config.internal_client_ca});
    }
  });
  if (!st) {
    RF_LOG(kError, "reactor failed", {"error", st.error().ToString()});
    return 1;
  }
  ::close(d.signal_fd);
  return d.exit_code.load();
}

}  // namespace rf::app

#include "app/serve.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#if RF_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include <atomic>
#include <cstring>

#include "api/auth_gate.h"
#include "api/forward.h"
#include "api/openapi.h"
#include "api/service.h"
#include "api/slo.h"
#include "api/v1.h"
#include "base/check.h"
#include "app/namespace_egress.h"
#include "app/notify.h"
#include "app/security.h"
#include "app/tracing.h"
#include "auth/authenticator.h"
#include "auth/crypto.h"
#include "auth/jwt.h"
#include "auth/key_service.h"
#include "engine/engine.h"
#include "http/client/client.h"
#include "http/client/egress_policy.h"
#include "http/server.h"
#include "quota/quota.h"
#include "tls/tls_client.h"
#include "tls/tls_context.h"
#include "reactor/offload.h"
#include "obs/log.h"
#include "reactor/io.h"
#include "reactor/reactor.h"
#include "reactor/submit_to.h"
#include "schedule/scheduler.h"
#include "steps/http_step.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/file_ops.h"
#include "store/history/embedded_history.h"
#include "store/postgres/migrate.h"
#include "store/postgres/pg_store.h"
#include "store/leadership.h"
#include "store/postgres/pg_leader.h"
#include "store/redis/redis_event_bus.h"
#include "store/redis/redis_leader.h"
#include "store/redis/redis_url.h"

namespace rf::app {
namespace {

#if RF_HAVE_MIMALLOC
// Referencing mimalloc keeps it linked (--as-needed) so it replaces malloc.
const std::string kAllocator = "mimalloc " + std::to_string(mi_version());
#else
const std::string kAllocator = "libc";
#endif

struct Daemon {
  explicit Daemon(const Config& c) : config(c) {}
  const Config& config;
  api::ServiceState state;
  reactor::Reactor* reactor = nullptr;
  http::Server* server = nullptr;
  engine::Engine* engine = nullptr;
  // What the clients may connect to (shared, immutable), and their counters, which /metrics
  // reads: both outlive the clients.
  http::client::EgressPolicy egress;
  std::vector<std::unique_ptr<http::client::ClientStats>> client_stats;
  std::unique_ptr<tls::TlsClientContext> http_tls;  // https for http steps; null: refused
  // Each shard's http step client: destroyed on its shard (its pool's timers live there).
  std::vector<std::unique_ptr<steps::ClientHttpExecutor>> executors;
  int signal_fd = -1;
  std::atomic<int> exit_code{0};
  std::atomic<unsigned> started{0};
  Notifier notifier;
  // Forwarding API requests to the instance that holds the run (store postgres): each shard's
  // client (destroyed on its shard, as the executors) under an allow-all policy (peers are
  // private addresses), and their counters.
  http::client::EgressPolicy forward_egress;
  std::unique_ptr<NamespaceEgress> ns_egress;  // --quotas-file "egress_allow"; null: no file
  std::unique_ptr<tls::TlsClientContext> peer_tls;  // --tls-cert: peers are reached over https
  std::vector<std::unique_ptr<http::client::Client>> forward_clients;
  std::vector<std::unique_ptr<api::ForwardStats>> forward_stats;
  // Authentication: each shard's authenticator (used only on its shard) and the key service
  // (shard 0). The JWT keys are swapped whole on SIGHUP (ReloadJwks).
  std::vector<std::unique_ptr<auth::Authenticator>> authenticators;
  std::unique_ptr<auth::KeyService> keys;
  std::string jwt_secret;
  std::unique_ptr<api::Quotas> quotas;  // --quotas-file; null without one
  tls::TlsContext* tls = nullptr;  // --tls-cert: reloaded on SIGHUP
  http::Server* internal = nullptr;           // --internal-listen; null: none
  tls::TlsContext* internal_tls = nullptr;    // its context (client certificates required)
  // Secrets (a vault per shard, the service on shard 0) and the audit log.
  std::unique_ptr<Security> security;
  std::unique_ptr<api::BulkOperations> bulk;  // /v1/operations: workers stopped before the engine
  // Every shard's scheduler (schedule/scheduler.h); opened after the engine, closed before it.
  std::unique_ptr<schedule::Schedulers> schedules;
  // The singleton jobs this daemon leads (shard 0's election rounds).
  store::Leadership* leadership = nullptr;
  Tracing* tracing = nullptr;  // tracers and OTLP exporters (--otlp-endpoint)
  bool slo_stop = false;       // ends the SLO sampler (shard 0)
  reactor::TaskGroup slo_sampler;
};

std::string TrimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Pings systemd only after every shard answered: a wedged shard stops the pings.
reactor::Task<void> Watchdog(Daemon* d) {
  while (!d->state.draining.load(std::memory_order_acquire)) {
    co_await reactor::Sleep(d->notifier.watchdog_interval());  // suspends
    for (unsigned i = 0; i < d->reactor->size(); ++i) {
      co_await reactor::SubmitTo(i, [] {});  // suspends
    }
    d->notifier.Send("WATCHDOG=1");
  }
}

int64_t OpenConnections(const Daemon* d) {
  return d->server->open_connections() + (d->internal ? d->internal->open_connections() : 0);
}

reactor::Task<void> Drain(Daemon* d) {
  d->notifier.Send("STOPPING=1\nSTATUS=draining");
  // The singleton jobs go to a standby at its next round, not after the lease's TTL.
  if (d->leadership) co_await d->leadership->Close();  // suspends
  d->slo_stop = true;
  RF_LOG(kInfo, "draining", {"timeout_ms", d->config.drain_timeout / kMillis},
         {"open_connections", OpenConnections(d)});
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    co_await reactor::SubmitTo(i, [d] {
      d->server->BeginDrain(reactor::Shard::Current());
      if (d->internal) d->internal->BeginDrain(reactor::Shard::Current());
    });
  }
  Deadline until = Deadline::After(d->config.drain_timeout);
  while (OpenConnections(d) > 0 && !until.Expired()) {
    co_await reactor::Sleep(10 * kMillis);  // suspends
  }
  if (OpenConnections(d) > 0) {
    RF_LOG(kWarn, "drain timeout: closing remaining connections", {"open_connections", OpenConnections(d)});
  }
  co_await d->slo_sampler.Wait();  // suspends (at most one poll of the stop flag)
  co_await d->state.slo->Close();  // suspends; the last requests' counts are saved
  if (d->security) co_await d->security->Close();  // suspends; no request is served any more
  if (d->keys) co_await d->keys->Close();  // suspends
  if (d->bulk) co_await d->bulk->Close();  // suspends
  if (d->schedules) co_await d->schedules->Close();  // suspends
  co_await d->engine->Close();  // suspends
  co_await d->tracing->Stop(d->reactor->size());  // suspends; the engine records no more spans
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    auto op = reactor::SubmitTo(i, [](Daemon* dd, unsigned n) {
      dd->executors[n].reset();
      if (n < dd->forward_clients.size()) dd->forward_clients[n].reset();
    }, d, i);
    co_await op;  // suspends
  }
  RF_LOG(kInfo, "stopped");
  d->reactor->Stop();
}

// Replays the store, then tells systemd we are ready: /v1 answers 503 until then.
reactor::Task<void> OpenEngine(Daemon* d, std::string where) {
  // Opening talks to every shard: wait until all of them run their loops.
  while (d->started.load() < d->config.shards) co_await reactor::Sleep(kMillis);  // suspends
  Nanos t0 = MonoNow();
  Status st = co_await d->keys->Open();  // suspends
  if (!st) {
    RF_LOG(kError, "cannot load the API keys; not starting", {"error", st.error().ToString()});
    d->exit_code.store(1);
    d->state.draining.store(true, std::memory_order_release);
    reactor::Spawn(Drain(d));
    co_return;
  }
  st = co_await d->security->Open();  // suspends
  if (!st) {
    RF_LOG(kError, "cannot load the secrets or open the audit log; not starting",
           {"error", st.error().ToString()});
    d->exit_code.store(1);
    d->state.draining.store(true, std::memory_order_release);
    reactor::Spawn(Drain(d));
    co_return;
  }
  st = co_await d->engine->Open();  // suspends
  if (!st) {
    RF_LOG(kError, "cannot open the store; not starting", {"data_dir", d->config.data_dir},
           {"error", st.error().ToString()});
    d->exit_code.store(1);
    d->state.draining.store(true, std::memory_order_release);
    reactor::Spawn(Drain(d));
    co_return;
  }
  if (d->schedules) {
    st = co_await d->schedules->Open();  // suspends
    if (!st) {
      RF_LOG(kError, "cannot load the schedules; not starting", {"error", st.error().ToString()});
      d->exit_code.store(1);
      d->state.draining.store(true, std::memory_order_release);
      reactor::Spawn(Drain(d));
      co_return;
    }
  }
  if (d->leadership) d->leadership->Start();  // the stores are open: the database is reachable
  RF_LOG(kInfo, "engine ready",
         {"store", d->config.store == Store::kPostgres ? "postgres" : "embedded"},
         {"data_dir", d->config.data_dir},
         {"fsync", d->config.fsync ? "always" : "never"}, {"ms", (MonoNow() - t0) / kMillis});
  d->notifier.Send("READY=1\nSTATUS=serving on " + where + " with " +
                   std::to_string(d->config.shards) + " shards");
  if (d->notifier.watchdog_interval() > 0) reactor::Spawn(Watchdog(d));
}

// SIGHUP: reads --jwks-file again and gives every shard the new key set (which empties their
// JWT caches). A file that cannot be read or parsed keeps the keys in use.
reactor::Task<void> ReloadJwks(Daemon* d) {
  if (d->config.jwks_file.empty()) {
    RF_LOG(kInfo, "SIGHUP: nothing to reload (no --jwks-file)");
    co_return;
  }
  auto read = reactor::Offload([path = d->config.jwks_file] { return ReadSmallFile(path); });
  auto text = co_await read;  // suspends
  Result<std::vector<auth::JwtPublicKey>> parsed =
      text ? auth::ParseJwks(*text) : Result<std::vector<auth::JwtPublicKey>>(text.error());
  if (!parsed) {
    RF_LOG(kError, "SIGHUP: cannot reload the JWKS; keeping the keys in use",
           {"jwks_file", d->config.jwks_file}, {"error", parsed.error().ToString()});
    co_return;
  }
  auto keys = std::make_shared<auth::JwtKeys>();
  keys->hs256_secret = d->jwt_secret;
  keys->public_keys = std::move(*parsed);
  const size_t count = keys->public_keys.size();
  std::shared_ptr<const auth::JwtKeys> snapshot = std::move(keys);
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    auto op = reactor::SubmitTo(
        i, [](auth::Authenticator* a, std::shared_ptr<const auth::JwtKeys> k) { a->SetJwtKeys(std::move(k)); },
        d->authenticators[i].get(), snapshot);
    co_await op;  // suspends
  }
  RF_LOG(kInfo, "SIGHUP: JWKS reloaded", {"jwks_file", d->config.jwks_file}, {"keys", count});
}

// SIGHUP: reads --quotas-file again and gives every shard the new limits. A file that cannot
// be read or parsed keeps the limits in force.
reactor::Task<void> ReloadQuotas(Daemon* d) {
  if (!d->quotas) co_return;
  auto read = reactor::Offload([path = d->config.quotas_file] { return ReadSmallFile(path); });
  auto text = co_await read;  // suspends
  Result<quota::Config> parsed = text ? quota::ParseConfig(*text) : Result<quota::Config>(text.error());
  if (!parsed) {
    RF_LOG(kError, "SIGHUP: cannot reload the quotas; keeping the limits in force",
           {"quotas_file", d->config.quotas_file}, {"error", parsed.error().ToString()});
    co_return;
  }
  if (auto egress = d->ns_egress->Build(*parsed); !egress) {
    RF_LOG(kError, "SIGHUP: cannot reload the quotas; keeping the limits in force",
           {"quotas_file", d->config.quotas_file}, {"error", egress.error().ToString()});
    co_return;
  }
  const size_t named = parsed->namespaces.size();
  auto snapshot = std::make_shared<const quota::Config>(std::move(*parsed));
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    auto table = d->ns_egress->Build(*snapshot);  // one per shard: no reference count is shared
    auto op = reactor::SubmitTo(
        i, [](Daemon* dd, unsigned shard, std::shared_ptr<const quota::Config> c, NamespaceEgress::Table t) {
          dd->quotas->SetConfig(shard, std::move(c));
          dd->ns_egress->Set(shard, std::move(t));
        },
        d, i, snapshot, std::move(*table));
    co_await op;  // suspends
  }
  RF_LOG(kInfo, "SIGHUP: quotas reloaded", {"quotas_file", d->config.quotas_file}, {"namespaces", named});
}

// SIGHUP: read --tls-cert/--tls-key again (on a helper thread: file reads) and serve new
// connections with them; open connections keep theirs. A bad file keeps the old certificate.
reactor::Task<void> ReloadTls(Daemon* d) {
  if (d->tls == nullptr) {
    RF_LOG(kInfo, "SIGHUP: no TLS certificate to reload");
    co_return;
  }
  for (tls::TlsContext* tls : {d->tls, d->internal_tls}) {
    if (tls == nullptr) continue;
    Status st = co_await reactor::Offload([tls] { return tls->Reload(); });  // suspends
    if (st) {
      RF_LOG(kInfo, "TLS certificate reloaded", {"cert", tls->cert_path()},
             {"port", tls == d->tls ? "listen" : "internal"});
    } else {
      RF_LOG(kError, "TLS reload failed; keeping the previous certificate",
             {"error", st.error().ToString()});
    }
  }
}

reactor::Task<void> WatchSignals(Daemon* d) {
  signalfd_siginfo info;
  int seen = 0;
  while (true) {
    reactor::ReadOp op(d->signal_fd, {reinterpret_cast<char*>(&info), sizeof info});
    auto n = co_await op;  // suspends
    if (!n || *n != sizeof info) co_return;
    if (info.ssi_signo == SIGHUP) {
      reactor::Spawn(ReloadJwks(d));
      reactor::Spawn(ReloadTls(d));
      reactor::Spawn(ReloadQuotas(d));
      continue;
    }
    if (++seen == 1) {
      RF_LOG(kInfo, "signal received, shutting down", {"signal", strsignal(static_cast<int>(info.ssi_signo))});
      d->state.draining.store(true, std::memory_order_release);
      reactor::Spawn(Drain(d));
    } else {
      RF_LOG(kWarn, "second signal: exiting now", {"signal", strsignal(static_cast<int>(info.ssi_signo))});
      _exit(128 + static_cast<int>(info.ssi_signo));
    }
  }
}

// One daemon per data directory: its journals, and with a shared database its
// identity in the partition leases (DefaultInstanceId), belong to one process.
// The lock lives as long as the process (the descriptor is never closed).
Status LockDataDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return Error::FromErrno(errno, "cannot create data dir " + dir);
  const std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Error::FromErrno(errno, "cannot open " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return Error::FromErrno(err, "cannot lock " + path);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : std::string("?");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Error{Errc::kConflict, "another ringflow (pid " + holder + ") uses data dir " + dir +
                                      ": give each daemon its own --data-dir"};
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0)
    RF_LOG(kWarn, "cannot write the pid into the data dir lock", {"path", path}, {"error", strerror(errno)});
  return {};
}

// The name this daemon's shards hold partition leases under: the same after a
// restart on the same data dir (it takes its own leases back at once), and
// different for every daemon (one per data dir, LockDataDir).
// GET /v1/slo's windows outlive restarts in <data-dir>/slo.json (read here, before the reactor
// runs; written every minute off the shard). A file that cannot be read is logged and replaced.
api::SloService::Persistence SloPersistence(const std::string& data_dir) {
  api::SloService::Persistence p;
  const std::string path = data_dir + "/slo.json";
  if (auto text = store::embedded::ReadFileBlocking(path)) {
    p.saved = std::move(*text);
  } else if (text.error().code != Errc::kNotFound) {
    RF_LOG(kWarn, "slo: cannot read the saved state", {"path", path}, {"error", text.error().ToString()});
  }
  p.save = [data_dir](std::string text) -> reactor::Task<Status> {
    co_return co_await reactor::Offload([&data_dir, &text] {  // suspends
      return store::embedded::WriteFileAtomicBlocking(data_dir, "slo.json", text);
    });
  };
  return p;
}

std::string DefaultInstanceId(const std::string& data_dir) {
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  char real[PATH_MAX];
  const char* dir = ::realpath(data_dir.c_str(), real) ? real : data_dir.c_str();
  return std::string(host) + ":" + dir;
}

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
  std::unique_ptr<store::StoreFactory> stores;
  std::unique_ptr<store::EventBus> bus;  // --redis-url with --store postgres: events across instances
  std::unique_ptr<tls::TlsClientContext> redis_tls;  // rediss://: outlives the bus
  // Leader election of the singleton jobs: the lease rows in PostgreSQL, contended in Redis first
  // when there is one (store/leadership.h).
  std::unique_ptr<store::LeaderElection> authority;
  std::unique_ptr<store::redis::RedisLeaderElection> arbiter;
  std::string holder;
  if (config.store == Store::kPostgres) {
    // Blocking checks before any shard runs: the schema must be the one this binary knows.
    if (config.migrate) {
      auto m = store::pg::MigrateUp(config.database_url);
      if (!m) {
        RF_LOG(kError, "schema migration failed", {"error", m.error().ToString()});
        return 1;
      }
    }
    if (auto st = store::pg::CheckSchema(config.database_url); !st) {
      RF_LOG(kError, "cannot use the database", {"error", st.error().context});
      return 1;
    }
    store::pg::PgOptions po;
    po.url = config.database_url;
    po.pool = config.pg_pool;
    po.instance = config.instance_id.empty() ? DefaultInstanceId(config.data_dir) : config.instance_id;
    po.advertise = config.advertise;  // empty (not advertised) for a default with --listen port 0
    po.shards = config.shards;
    po.standby = config.standby;
    if (po.advertise.empty()) {
      RF_LOG(kWarn, "not advertised (--listen port 0): other daemons answer 503 for this one's runs; "
                    "set --advertise");
    } else if (!config.advertise_given &&
               (po.advertise.starts_with("127.") || po.advertise.starts_with("[::1]"))) {
      RF_LOG(kWarn, "advertised at a loopback address: only daemons on this host can forward requests "
                    "to this one; set --advertise (or --listen 0.0.0.0:PORT)",
             {"advertise", po.advertise});
    }
    if (!config.redis_url.empty()) {
      auto url = store::redis::ParseRedisUrl(config.redis_url);  // validated by LoadConfig
      if (!url) {
        RF_LOG(kError, "bad --redis-url", {"error", url.error().context});
        return 1;
      }
      store::redis::RedisConn::Options conn;
      if (url->tls) {
        auto t = tls::TlsClientContext::Load(config.redis_ca_file);  // blocking: before the shards
        if (!t) {
          RF_LOG(kError, "cannot use TLS for Redis", {"error", t.error().ToString()});
          return 2;
        }
        redis_tls = std::move(*t);
        conn.tls = redis_tls.get();
        RF_LOG(kInfo, "redis over TLS", {"redis", url->Endpoint()}, {"ca_file", redis_tls->ca_file()});
      }
      bus = std::make_unique<store::redis::RedisEventBus>(*url, po.instance, conn);
      arbiter = std::make_unique<store::redis::RedisLeaderElection>(*url, po.instance, config.leader_renew, conn);
    }
    authority = std::make_unique<store::pg::PgLeaderElection>(po, config.leader_renew);
    holder = po.instance;
    stores = std::make_unique<store::pg::PgStoreFactory>(po);
  } else {
    if (auto st = engine::CheckLayout(config.data_dir, config.shards); !st) {
      RF_LOG(kError, "cannot use the data directory", {"data_dir", config.data_dir},
             {"error", st.error().ToString()});
      return 1;
    }
    // --history-cache: half for RocksDB's block cache, half for the runs the coordinators keep.
    auto history = std::make_unique<store::history::EmbeddedHistoryStore>(
        store::history::EmbeddedHistoryOptions{config.data_dir + "/history", config.fsync,
                                               config.history_cache / 2});
    stores = std::make_unique<store::embedded::EmbeddedStoreFactory>(config.data_dir, config.fsync,
                                                                      std::move(history));
  }
  engine::EngineOptions eo;
  eo.data_dir = config.data_dir;
  eo.fsync = config.fsync;
  eo.retention = config.retention;
  eo.snapshot_bytes = config.snapshot_bytes;
  eo.history_cache = config.history_cache;
  eo.http_concurrency = config.http_concurrency;
  eo.http_timeout = config.http_timeout;
  eo.default_breaker = config.circuit_breaker;
  eo.max_breakers = config.breakers_max;
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
  // https for http steps: the CAs are read once, here, before the shards run (blocking).
  if (auto t = tls::TlsClientContext::Load(config.http_ca_file); t) {
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
  d.state.more_metrics = [&d, b = bus.get()](std::string& out) {
    std::vector<const http::client::ClientStats*> parts;
    for (const auto& st : d.client_stats) parts.push_back(st.get());
    http::client::RenderClientMetrics(parts, out);
    std::vector<const api::ForwardStats*> fwd;
    for (const auto& st : d.forward_stats) fwd.push_back(st.get());
    if (!fwd.empty()) api::RenderForwardMetrics(fwd, out);
    if (b) b->RenderMetrics(out);
  };
  engine::Engine engine(config.shards, eo, http_steps, stores.get());
  if (bus) engine.SetEventBus(bus.get());
  // Without a shared database there is no authority: this daemon leads every job, unfenced.
  store::Leadership leadership({.holder = holder, .ttl = config.leader_ttl, .renew = config.leader_renew},
                               authority.get(), arbiter.get());
  engine.SetLeadership(&leadership);
  d.leadership = &leadership;
  {
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [previous, &leadership, a = arbiter.get()](std::string& out) {
      previous(out);
      leadership.RenderMetrics(out);
      if (const store::redis::RedisStats* rs = a ? a->stats() : nullptr)
        store::redis::RenderRedisMetrics({rs}, out);
    };
  }
  d.state.degraded = [&leadership, b = bus.get()]() {
    std::vector<api::ServiceState::Degraded> out;
    const bool election_down = leadership.arbiter_configured() && !leadership.arbiter_up();
    if ((b && !b->up()) || election_down)
      out.push_back({"redis", "event streams of runs held by other daemons pause (local ones go on); "
                              "leader election of singleton jobs runs on PostgreSQL alone"});
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

  // Authentication: the bootstrap key, the JWT keys, one authenticator per shard, the key service.
  auth::InitCrypto();
  std::string admin_key = config.admin_key;
  if (!config.admin_key_file.empty()) {
    auto text = ReadSmallFile(config.admin_key_file);
    if (!text) {
      RF_LOG(kError, "cannot read --admin-key-file", {"error", text.error().ToString()});
      return 2;
    }
    admin_key = TrimLine(std::move(*text));
  }
  if (!admin_key.empty() && !auth::ValidBootstrapToken(admin_key)) {
    RF_LOG(kError, "the admin key (--admin-key-file / RINGFLOW_ADMIN_KEY) must be 16..512 printable "
                   "characters without spaces");
    return 2;
  }
  auto jwt_keys = std::make_shared<auth::JwtKeys>();
  if (!config.jwt_secret_file.empty()) {
    auto text = ReadSmallFile(config.jwt_secret_file);
    if (!text) {
      RF_LOG(kError, "cannot read --jwt-secret-file", {"error", text.error().ToString()});
      return 2;
    }
    d.jwt_secret = TrimLine(std::move(*text));
    if (d.jwt_secret.size() < 32) {
      RF_LOG(kError, "--jwt-secret-file: an HS256 secret must be at least 32 bytes");
      return 2;
    }
    jwt_keys->hs256_secret = d.jwt_secret;
  }
  if (!config.jwks_file.empty()) {
    auto text = ReadSmallFile(config.jwks_file);
    auto parsed = text ? auth::ParseJwks(*text) : Result<std::vector<auth::JwtPublicKey>>(text.error());
    if (!parsed) {
      RF_LOG(kError, "cannot use --jwks-file", {"jwks_file", config.jwks_file},
             {"error", parsed.error().ToString()});
      return 2;
    }
    jwt_keys->public_keys = std::move(*parsed);
  }
  std::shared_ptr<const auth::JwtKeys> jwt_snapshot = std::move(jwt_keys);
  std::vector<auth::Authenticator*> auth_shards;
  for (unsigned i = 0; i < config.shards; ++i) {
    d.authenticators.push_back(std::make_unique<auth::Authenticator>(
        auth::JwtPolicy{config.jwt_issuer, config.jwt_audience}, config.jwt_cache));
    d.authenticators.back()->SetJwtKeys(jwt_snapshot);  // before any shard runs
    auth_shards.push_back(d.authenticators.back().get());
  }
  d.keys = std::make_unique<auth::KeyService>(stores->MakeKeyStore(), auth_shards, admin_key);
  auto secrets_key = LoadSecretsKey(config);
  if (!secrets_key) {
    RF_LOG(kError, "cannot use the secrets key", {"error", secrets_key.error().context});
    return 2;
  }
  d.security = std::make_unique<Security>(config, *stores, *secrets_key);
  if (d.security->audit) d.security->audit->SetLeadership(&leadership);
  for (unsigned i = 0; i < config.shards; ++i) {
    auth::SecretVault* vault = d.security->vaults[i].get();
    d.executors[i]->SetSecrets(
        [vault](std::string_view ns, std::string_view name) { return vault->Reveal(ns, name); });
  }
  api::AuthGate gate({.enabled = config.auth, .metrics_auth = config.metrics_auth}, auth_shards);
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
    d.quotas = std::make_unique<api::Quotas>(
        config.shards, std::make_shared<const quota::Config>(std::move(*parsed)), &engine.metrics().members);
    gate.EnableQuotas(d.quotas.get());
    auto previous = d.state.more_metrics;
    d.state.more_metrics = [&d, previous](std::string& out) {
      previous(out);
      d.quotas->RenderMetrics(d.engine->metrics().namespaces, out);
    };
  }
  if (!config.auth) {
    if (AuthDefaultOn(config.listen_host)) {
      RF_LOG(kWarn, "authentication is OFF on a non-loopback address (--auth off): anyone who reaches "
                    "the port can register workflows, start runs and manage API keys",
             {"listen", config.listen});
    } else {
      RF_LOG(kWarn, "authentication is off (loopback listener): every local process can use the API; "
                    "--auth on to require API keys or JWTs", {"listen", config.listen});
    }
  } else {
    RF_LOG(kInfo, "authentication on", {"bootstrap_admin_key", admin_key.empty() ? "no" : "yes"},
           {"jwt_hs256", jwt_snapshot->hs256_secret.empty() ? "no" : "yes"},
           {"jwks_keys", jwt_snapshot->public_keys.size()},
           {"metrics_auth", config.metrics_auth ? "on" : "off"});
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
    d.schedules = std::make_unique<schedule::Schedulers>(&engine, std::move(so), stores.get(), config.shards);
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
    v1.EnableForwarding(std::move(clients), std::move(stats), d.peer_tls != nullptr);
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
    if (shard.id() == 0) {
      reactor::Spawn(WatchSignals(&d));
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

#pragma once
// Config: every setting of the daemon, from one table (config.cc). Sources in
// increasing precedence: defaults < config file < RINGFLOW_* env < flags.
// Load() validates everything and names the key of any bad value.

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "engine/breaker.h"
#include "http/client/egress_policy.h"
#include "obs/log.h"

namespace rf::app {

enum class Command { kServe, kVersion, kConfig, kDoctor, kHelp, kMigrate, kArchive };
enum class Store { kEmbedded, kPostgres };

struct Config {
  Command command = Command::kServe;
  bool migrate_apply = true;  // migrate: up (true) or status (false)

  std::string listen_host;
  uint16_t listen_port = 0;
  std::string listen;  // as given
  unsigned shards = 0;
  std::vector<int> cpus;  // resolved: one per shard
  bool pin = true;
  uint64_t max_body = 0;
  uint64_t max_connections = 0;
  uint64_t max_pipeline = 0;
  uint64_t http2_max_streams = 0;
  Nanos header_timeout = 0;
  Nanos idle_timeout = 0;
  Nanos body_timeout = 0;
  uint64_t body_min_rate = 0;  // bytes per second; 0: no minimum
  Nanos drain_timeout = 0;
  obs::Level log_level = obs::Level::kInfo;
  bool access_log = false;
  std::string data_dir;
  Store store = Store::kEmbedded;
  std::string database_url;
  std::string tls_cert;  // with tls_key: serve TLS
  std::string tls_key;
  std::string instance_id;  // empty: hostname:realpath(data_dir)
  // host:port peers forward API requests to (--advertise); filled with DefaultAdvertise when not
  // given (advertise_given false).
  std::string advertise;
  bool advertise_given = false;
  uint64_t pg_pool = 0;
  uint64_t pg_read_pool = 0;
  std::string redis_url;  // validated by store::redis::ParseRedisUrl; "" = no Redis
  // --internal-listen (empty: none): HTTPS for forwarded requests, client certificates verified
  // against internal_client_ca.
  std::string internal_listen;
  std::string internal_host;
  uint16_t internal_port = 0;
  std::string internal_client_ca;
  std::string peer_ca_file;   // forwarding to peers over https (--tls-cert): their CA ("" = the system's)
  std::string http_ca_file;   // https http steps: the CAs to verify servers with ("" = the system's)
  std::string redis_ca_file;  // rediss://: the CA to verify the server with ("" = the system's)
  bool migrate = false;  // serve: apply pending migrations first
  bool standby = false;  // shared database: hold partitions only while no active instance lives
  bool fsync = true;
  Nanos retention = 0;
  uint64_t snapshot_bytes = 0;
  uint64_t history_cache = 0;
  Nanos history_read_age = 0;
  uint64_t http_concurrency = 0;
  Nanos http_timeout = 0;
  // The default circuit breaker of http steps (--circuit-breaker; none when empty).
  std::optional<engine::BreakerSettings> circuit_breaker;
  uint64_t breakers_max = 0;  // per shard
  uint64_t step_permit_waiters = 0;  // per home shard
  uint64_t max_workflow_depth = 8;  // workflow steps' nesting (engine::EngineOptions)
  uint64_t max_map_items = 10'000;  // items of one map step (engine::EngineOptions)
  // http steps' outbound policy; egress_allow is a validated EgressPolicy::Parse list.
  http::client::EgressMode egress_mode = http::client::EgressMode::kDenyPrivate;
  std::string egress_allow;
  uint64_t sse_buffer = 0;
  // Authentication (auth/, api/auth_gate.h). auth: resolved from --auth (auto: on unless
  // --listen is a loopback address, AuthDefaultOn).
  bool auth = false;
  bool auth_given = false;  // --auth on|off was set (not auto)
  bool metrics_auth = false;
  std::string admin_key;       // RINGFLOW_ADMIN_KEY; never printed
  std::string admin_key_file;  // read at start; wins over admin_key
  std::string jwt_secret_file;
  std::string jwks_file;       // reloaded on SIGHUP
  std::string quotas_file;     // quota/quota.h; reloaded on SIGHUP
  std::string zone_dir = "/usr/share/zoneinfo";  // schedules' time zones (schedule/zone.h)
  std::string test_clock_file;  // tests only: the schedulers' wall clock (schedule/scheduler.h)
  std::string jwt_issuer;
  std::string jwt_audience;
  uint64_t jwt_cache = 0;      // verified JWTs cached per shard
  std::vector<std::string> allowed_hosts;  // empty: any Host
  bool json_mutations = false;  // resolved: --json-mutations auto follows auth
  bool json_mutations_given = false;
  // Secrets (auth/secret_service.h): the AES-256-GCM key, from a file or RINGFLOW_SECRETS_KEY
  // (never printed); neither: secrets are not configured.
  std::string secrets_key_file;
  std::string secrets_key;
  // Audit log (auth/audit_log.h).
  uint64_t audit_queue = 0;      // entries per shard before mutations get 503
  Nanos audit_retention = 0;
  Nanos leader_ttl = 0;    // singleton jobs' leases (store/leadership.h)
  Nanos leader_renew = 0;  // at most leader_ttl / 2
  uint64_t audit_max_bytes = 0;  // embedded: the audit files' total bound
  Nanos archive_before = 0;      // archive: runs that finished at least this long ago
  std::string archive_out = "-";  // archive: output file, - for stdout
  // Tracing (trace/): where spans go (empty: no export), the share of traces kept, our name there.
  std::string otlp_endpoint;
  double otlp_sample_ratio = 1.0;
  uint64_t otlp_buffer = 4096;  // spans per shard
  std::string service_name = "ringflow";
  // Service level objectives (GET /v1/slo): the share of /v1 requests answered without a 5xx,
  // and the share answered within slo_latency_ms.
  double slo_availability = 0.999;
  uint64_t slo_latency_ms = 250;
  double slo_latency_target = 0.99;

  struct Source {
    std::string key, value, origin;  // origin: default | file:PATH | env:NAME | flag
  };
  std::vector<Source> effective;
  std::vector<std::string> warnings;  // not fatal: e.g. an unknown RINGFLOW_* variable
};

// The --advertise default: the --listen address when it names one host, else `hostname`:port
// (listening on 0.0.0.0 or [::]); empty (not advertised: requests are not forwarded to this
// daemon) for port 0. `listen_host` as in Config (IPv6 in brackets).
std::string DefaultAdvertise(std::string_view listen_host, uint16_t port, std::string_view hostname);

// Whether --auth auto turns authentication on for this --listen host: yes unless it is a loopback
// address (127.0.0.0/8, ::1, ::ffff:127.x.y.z; IPv6 with or without brackets).
bool AuthDefaultOn(std::string_view listen_host);

// argv[0] is skipped. On failure the error message names the key.
Result<Config> LoadConfig(int argc, char** argv, char** envp);
std::string HelpText();

// Sizes: "64KiB", "1MiB", "1048576". Durations use the one grammar of base/duration.h.
Result<uint64_t> ParseSize(std::string_view s);

}  // namespace rf::app

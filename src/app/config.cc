#include "app/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <map>

#include "base/duration.h"
#include "engine/definition.h"
#include "http/client/egress_policy.h"
#include "http/client/url.h"
#include "reactor/reactor.h"
#include "store/redis/redis_url.h"

namespace rf::app {
namespace {

enum class Kind {
  kString, kBool, kUint, kSize, kDuration, kAddr, kCpus, kLevel, kFsync, kStore, kEgressPolicy, kEgressAllow,
  kRatio,  // a decimal number; min/max in millionths (Apply)
};

struct Setting {
  const char* key;
  Kind kind;
  const char* def;
  uint64_t min;  // for kUint / kSize / kDuration (ms)
  uint64_t max;
  const char* help;
};

// The one table. Keys are flags (--key), env vars (RINGFLOW_KEY with dashes as
// underscores) and config-file keys.
constexpr Setting kSettings[] = {
    {"listen", Kind::kAddr, "127.0.0.1:8080", 0, 0, "address:port to serve HTTP on (IPv6 as [::1]:8080)"},
    {"shards", Kind::kUint, "0", 0, 1024, "reactor threads; 0 = one per CPU in --cpus / the affinity mask"},
    {"cpus", Kind::kCpus, "", 0, 0, "CPUs to pin shards to, e.g. 0-3,6 (default: the affinity mask)"},
    {"pin", Kind::kBool, "true", 0, 0, "pin each shard's thread to its CPU"},
    {"max-body", Kind::kSize, "1MiB", 0, 1ull << 30, "largest request body accepted (413 above)"},
    {"max-connections", Kind::kUint, "100000", 1, 10'000'000, "open connections before new ones get 503"},
    {"max-pipeline", Kind::kUint, "64", 1, 4096, "pipelined requests answered per read before yielding"},
    {"tls-cert", Kind::kString, "", 0, 0, "PEM certificate chain: serve HTTPS (ALPN h2, http/1.1) instead of plain HTTP; reloaded on SIGHUP"},
    {"tls-key", Kind::kString, "", 0, 0, "PEM private key of --tls-cert; reloaded on SIGHUP"},
    {"http2-max-streams", Kind::kUint, "100", 1, 10'000, "HTTP/2 concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS)"},
    {"header-timeout", Kind::kDuration, "10s", 1, 3'600'000, "time to receive a request's headers (408 after)"},
    {"idle-timeout", Kind::kDuration, "60s", 1, 86'400'000, "keep-alive connection idle time before close"},
    {"body-timeout", Kind::kDuration, "30s", 1, 86'400'000, "time to receive a request body once its headers are in (408 after)"},
    {"body-min-rate", Kind::kSize, "1KiB", 0, 1ull << 30, "bytes/s a request body must average after its first 5s (408 below; 0 = no minimum)"},
    {"drain-timeout", Kind::kDuration, "10s", 0, 3'600'000, "graceful shutdown: time in-flight requests get"},
    {"log-level", Kind::kLevel, "info", 0, 0, "debug | info | warn | error"},
    {"access-log", Kind::kBool, "false", 0, 0, "log one line per request"},
    {"data-dir", Kind::kString, "./data", 0, 0, "directory of the embedded store"},
    {"fsync", Kind::kFsync, "always", 0, 0,
     "always: fdatasync each commit (a 201 survives power loss) | never: page cache only (survives a crash of ringflow, not of the machine)"},
    {"retention", Kind::kDuration, "168h", 1000, 3'650ull * 86'400'000, "terminal runs are removed this long after they finished"},
    {"history-cache", Kind::kSize, "64MiB", 0, 1ull << 40, "memory for finished runs (embedded: half caches runs, half RocksDB blocks, beside RocksDB's 32 MiB of memtables); the rest of history stays on disk"},
    {"history-read-age", Kind::kDuration, "60s", 0, 86'400'000, "with PostgreSQL: a GET of a run at least this old on a shard that does not own it reads the database itself instead of asking the owner shard (0: every GET; a GET of a live run then costs one query more)"},
    {"snapshot-bytes", Kind::kSize, "8MiB", 1 << 20, 1ull << 40, "journal growth per shard that triggers a snapshot (at least the last snapshot's size)"},
    {"http-concurrency", Kind::kUint, "1024", 1, 1'000'000, "http steps in flight per shard; more wait in the queue"},
    {"http-timeout", Kind::kDuration, "60s", 1, 86'400'000, "http step attempt timeout when the step sets no timeout_ms"},
    {"circuit-breaker", Kind::kString, "", 0, 0,
     "default circuit breaker of http steps that name none, per host (scheme://host:port): a JSON object like a step's circuit_breaker without key, e.g. {\"consecutive_failures\":5,\"cool_down\":\"30s\"}; empty: none"},
    {"breakers-max", Kind::kUint, "10000", 1, 1'000'000, "circuit breakers kept per shard; the least recently used one is dropped beyond it"},
    {"max-workflow-depth", Kind::kUint, "8", 1, 64, "how deep workflow steps may nest runs (a child is one level below its parent)"},
    {"step-permit-waiters", Kind::kUint, "100000", 1, 10'000'000, "attempts of http steps that may wait for step concurrency permits homed on one shard; past it an attempt fails, retryably (concurrency_queue_full)"},
    {"max-map-items", Kind::kUint, "10000", 1, 1000000, "items one map step may have (a literal array above it is refused with 422; a rendered one fails the step)"},
    {"egress-policy", Kind::kEgressPolicy, "deny-private", 0, 0,
     "deny-private: http steps may not connect to loopback, link-local (169.254.169.254), private, CGNAT, unique-local, multicast or other non-public addresses unless --egress-allow admits them | allow-all: no check"},
    {"egress-allow", Kind::kEgressAllow, "", 0, 0,
     "comma-separated CIDRs/addresses (127.0.0.1, 10.0.0.0/8, fd00::/8) and host names (localhost, *.internal.example.com) http steps may connect to despite --egress-policy deny-private"},
    {"sse-buffer", Kind::kSize, "1MiB", 4096, 1ull << 30, "unsent event bytes before a stream that does not read is cut off"},
    {"store", Kind::kStore, "embedded", 0, 0, "embedded (journal in --data-dir) | postgres (--database-url)"},
    {"database-url", Kind::kString, "", 0, 0, "libpq URI of PostgreSQL for --store postgres (also DATABASE_URL)"},
    {"pg-pool", Kind::kUint, "4", 1, 64, "PostgreSQL connections per shard for its group commits"},
    {"pg-read-pool", Kind::kUint, "2", 1, 64, "PostgreSQL connections per shard for reads of finished runs and SSE history (apart from the commits, so a read never waits behind them)"},
    {"instance-id", Kind::kString, "", 0, 0, "this daemon's name in the partition leases of a shared database (default: hostname:absolute data dir); keep it across restarts"},
    {"advertise", Kind::kString, "", 0, 0, "host:port other daemons on the shared database forward API requests to (default: --internal-listen, else --listen, or hostname:port when it listens on 0.0.0.0 or [::])"},
    {"internal-listen", Kind::kAddr, "", 0, 0, "with --tls-cert: a second address:port for the requests other daemons forward, HTTPS with client certificates verified against --internal-client-ca; empty: none (peers use --listen)"},
    {"internal-client-ca", Kind::kString, "", 0, 0, "PEM CA certificate(s) the client certificates on --internal-listen must chain to (daemons present their --tls-cert when they forward)"},
    {"standby", Kind::kBool, "false", 0, 0, "with a shared database: hold no partitions while a daemon without --standby is alive (a hot standby that takes over when all of them are gone)"},
    {"redis-url", Kind::kString, "", 0, 0, "Redis for the cluster, redis://[[user]:password@]host[:port][/db], rediss:// for TLS (also REDIS_URL); empty: none. `doctor` checks it"},
    {"peer-ca-file", Kind::kString, "", 0, 0, "with --tls-cert and a shared store: PEM CA certificate(s) the other daemons' certificates must chain to when requests are forwarded to them over https (their --advertise host must be in the certificate); empty: the system's CA bundle"},
    {"http-ca-file", Kind::kString, "", 0, 0, "PEM CA certificate(s) https servers called by http steps must chain to (their name must match the URL's host); empty: the system's CA bundle"},
    {"redis-ca-file", Kind::kString, "", 0, 0, "rediss://: PEM CA certificate(s) the Redis server's certificate must chain to (its name must match the URL's host); empty: the system's CA bundle"},
    {"leader-ttl", Kind::kDuration, "5s", 1000, 300'000, "with a shared database: the lease of a singleton job's leader (retention); a killed leader's jobs move to another daemon within it"},
    {"leader-renew", Kind::kDuration, "1s", 100, 150'000, "with a shared database: how often leases of singleton jobs are renewed and contended for; at most half of --leader-ttl"},
    {"migrate", Kind::kBool, "false", 0, 0, "serve: apply pending schema migrations before starting"},
    {"before", Kind::kDuration, "168h", 0, 36'500ull * 86'400'000, "archive: export runs that finished at least this long ago"},
    {"out", Kind::kString, "-", 0, 0, "archive: the gzip'd JSON lines file to write (- for standard output)"},
    {"auth", Kind::kString, "auto", 0, 0, "on: every /v1 request needs an API key or JWT (Authorization: Bearer) | off | auto: on unless --listen is a loopback address"},
    {"metrics-auth", Kind::kBool, "false", 0, 0, "GET /metrics needs a credential too (any role)"},
    {"admin-key-file", Kind::kString, "", 0, 0, "file holding the bootstrap admin API key (16..512 printable characters; namespace *); wins over RINGFLOW_ADMIN_KEY"},
    {"admin-key", Kind::kString, "", 0, 0, "the bootstrap admin API key itself; set it through RINGFLOW_ADMIN_KEY, not a flag (never printed)"},
    {"jwt-secret-file", Kind::kString, "", 0, 0, "file holding the HS256 secret for bearer JWTs (at least 32 bytes); empty: HS256 refused"},
    {"jwks-file", Kind::kString, "", 0, 0, "JWKS file of RS256/ES256 public keys for bearer JWTs; reloaded on SIGHUP"},
    {"jwt-issuer", Kind::kString, "", 0, 0, "required `iss` of JWTs (empty: not checked)"},
    {"jwt-audience", Kind::kString, "", 0, 0, "required `aud` of JWTs (empty: not checked)"},
    {"jwt-cache", Kind::kUint, "10000", 0, 10'000'000, "verified JWTs cached per shard until they expire"},
    {"quotas-file", Kind::kString, "", 0, 0, "JSON file of rate limits and live-run quotas per namespace (README: Quotas); reloaded on SIGHUP; empty: no limits"},
    {"allowed-hosts", Kind::kString, "", 0, 0, "comma-separated Host names the API answers for (421 otherwise; DNS rebinding); empty: any"},
    {"json-mutations", Kind::kString, "auto", 0, 0, "on: POST/PUT/PATCH/DELETE need Content-Type: application/json even without a body (415; no cross-site form posts) | off | auto: as --auth"},
    {"secrets-key-file", Kind::kString, "", 0, 0, "file holding the key secrets are sealed with (AES-256-GCM): 64 hex digits (openssl rand -hex 32) or 32 raw bytes; empty: PUT /v1/secrets answers 409"},
    {"secrets-key", Kind::kString, "", 0, 0, "the secrets key itself (64 hex digits); set it through RINGFLOW_SECRETS_KEY, not a flag (never printed); --secrets-key-file wins"},
    {"audit-queue", Kind::kUint, "4096", 16, 1'000'000, "audit entries per shard not yet durable before mutations are refused with 503 (the audit log never drops)"},
    {"audit-retention", Kind::kDuration, "2160h", 3'600'000, 36'500ull * 86'400'000, "audit entries are removed this long after they were written"},
    {"audit-max-bytes", Kind::kSize, "256MiB", 64 * 1024, 1ull << 40, "embedded store: the audit files' total size; the oldest go first beyond it"},
    {"zone-dir", Kind::kString, "/usr/share/zoneinfo", 0, 0, "directory of the IANA time zone files (TZif) schedules read their zones from"},
    {"test-clock-file", Kind::kString, "", 0, 0, "TESTS ONLY: the schedulers read the wall time (Unix ms) from this file instead of the clock; empty: the real clock"},
    {"otlp-endpoint", Kind::kString, "", 0, 0, "OTLP/HTTP traces URL to export spans to as JSON (e.g. http://127.0.0.1:4318/v1/traces): a run is a trace, each step attempt a span; empty: no export"},
    {"otlp-sample-ratio", Kind::kRatio, "1", 0, 1'000'000, "share of traces exported, 0..1, decided from the trace id (a trace is kept or dropped whole)"},
    {"otlp-buffer", Kind::kUint, "4096", 1, 1'000'000, "finished spans each shard holds for export; a span that finds the buffer full is dropped and counted"},
    {"service-name", Kind::kString, "ringflow", 0, 0, "service.name of the exported spans"},
    {"slo-availability", Kind::kRatio, "0.999", 1, 999'999, "availability objective of GET /v1/slo: the share of /v1 requests answered without a 5xx, in (0, 1)"},
    {"slo-latency-ms", Kind::kUint, "250", 1, 60'000, "latency objective of GET /v1/slo: a /v1 request (event streams aside) answered within this is fast"},
    {"slo-latency-target", Kind::kRatio, "0.99", 1, 999'999, "the share of /v1 requests that must be fast, in (0, 1)"},
    {"config", Kind::kString, "", 0, 0, "optional file of `key = value` lines"},
};

const Setting* Find(std::string_view key) {
  for (const Setting& s : kSettings)
    if (key == s.key) return &s;
  return nullptr;
}

std::string EnvName(std::string_view key) {
  std::string e = "RINGFLOW_";
  for (char c : key) e += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Result<uint64_t> ParseUint(std::string_view s) {
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size())
    return Error{Errc::kInvalidArgument, "not a non-negative integer"};
  return v;
}

// postgresql://user:secret@host/db -> postgresql://user:***@host/db, for `config` output.
std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

Error Bad(std::string_view key, std::string_view value, std::string_view why) {
  return Error{Errc::kInvalidArgument,
               "invalid value '" + std::string(value) + "' for " + std::string(key) + ": " + std::string(why)};
}

Status Apply(Config& c, const Setting& s, std::string_view v) {
  std::string_view key = s.key;
  auto in_range = [&](uint64_t x, uint64_t scale) -> Status {
    if (x < s.min * scale || x > s.max * scale)
      return Bad(key, v, "must be between " + std::to_string(s.min) + " and " + std::to_string(s.max) +
                             (s.kind == Kind::kDuration ? " ms" : ""));
    return {};
  };
  switch (s.kind) {
    case Kind::kUint:
    case Kind::kSize: {
      auto x = s.kind == Kind::kUint ? ParseUint(v) : ParseSize(v);
      if (!x) return Bad(key, v, x.error().context);
      if (auto st = in_range(*x, 1); !st) return st;
      if (key == "shards") c.shards = static_cast<unsigned>(*x);
      else if (key == "max-body") c.max_body = *x;
      else if (key == "max-connections") c.max_connections = *x;
      else if (key == "max-pipeline") c.max_pipeline = *x;
      else if (key == "http2-max-streams") c.http2_max_streams = *x;
      else if (key == "snapshot-bytes") c.snapshot_bytes = *x;
      else if (key == "history-cache") c.history_cache = *x;
      else if (key == "http-concurrency") c.http_concurrency = *x;
      else if (key == "pg-pool") c.pg_pool = *x;
      else if (key == "pg-read-pool") c.pg_read_pool = *x;
      else if (key == "breakers-max") c.breakers_max = *x;
      else if (key == "max-workflow-depth") c.max_workflow_depth = *x;
      else if (key == "max-map-items") c.max_map_items = *x;
      else if (key == "step-permit-waiters") c.step_permit_waiters = *x;
      else if (key == "sse-buffer") c.sse_buffer = *x;
      else if (key == "jwt-cache") c.jwt_cache = *x;
      else if (key == "body-min-rate") c.body_min_rate = *x;
      else if (key == "audit-queue") c.audit_queue = *x;
      else if (key == "audit-max-bytes") c.audit_max_bytes = *x;
      else if (key == "slo-latency-ms") c.slo_latency_ms = *x;
      else if (key == "otlp-buffer") c.otlp_buffer = *x;
      return {};
    }
    case Kind::kDuration: {
      auto d = ParseDuration(v);
      if (!d) return Bad(key, v, d.error().context);
      if (auto st = in_range(static_cast<uint64_t>(*d), kMillis); !st) return st;
      if (key == "header-timeout") c.header_timeout = *d;
      else if (key == "idle-timeout") c.idle_timeout = *d;
      else if (key == "body-timeout") c.body_timeout = *d;
      else if (key == "drain-timeout") c.drain_timeout = *d;
      else if (key == "retention") c.retention = *d;
      else if (key == "history-read-age") c.history_read_age = *d;
      else if (key == "http-timeout") c.http_timeout = *d;
      else if (key == "before") c.archive_before = *d;
      else if (key == "audit-retention") c.audit_retention = *d;
      else if (key == "leader-ttl") c.leader_ttl = *d;
      else if (key == "leader-renew") c.leader_renew = *d;
      return {};
    }
    case Kind::kBool: {
      bool b;
      if (v == "true" || v == "1" || v == "yes" || v == "on") b = true;
      else if (v == "false" || v == "0" || v == "no" || v == "off") b = false;
      else return Bad(key, v, "expected true or false");
      if (key == "access-log") c.access_log = b;
      else if (key == "migrate") c.migrate = b;
      else if (key == "standby") c.standby = b;
      else if (key == "pin") c.pin = b;
      else if (key == "metrics-auth") c.metrics_auth = b;
      return {};
    }
    case Kind::kStore:
      if (v == "embedded") c.store = Store::kEmbedded;
      else if (v == "postgres") c.store = Store::kPostgres;
      else return Bad(key, v, "expected embedded or postgres");
      return {};
    case Kind::kFsync:
      if (v == "always") c.fsync = true;
      else if (v == "never") c.fsync = false;
      else return Bad(key, v, "expected always or never");
      return {};
    case Kind::kEgressPolicy: {
      auto mode = http::client::EgressPolicy::ParseMode(v);
      if (!mode) return Bad(key, v, mode.error().context);
      c.egress_mode = *mode;
      return {};
    }
    case Kind::kEgressAllow: {
      auto policy = http::client::EgressPolicy::Parse(v);
      if (!policy) return Bad(key, v, policy.error().context);
      c.egress_allow = std::string(Trim(v));
      return {};
    }
    case Kind::kRatio: {
      // min/max are in millionths: [0, 1'000'000] is 0..1 inclusive, [1, 999'999] excludes both.
      double x = 0;
      const std::string_view t = Trim(v);
      auto r = std::from_chars(t.data(), t.data() + t.size(), x);
      if (t.empty() || r.ec != std::errc{} || r.ptr != t.data() + t.size() || !(x == x))
        return Bad(key, v, "not a number");
      const double lo = static_cast<double>(s.min) / 1e6, hi = static_cast<double>(s.max) / 1e6;
      if (x < lo || x > hi)
        return Bad(key, v, s.min == 0 ? "must be between 0 and 1" : "must be greater than 0 and less than 1");
      if (key == "otlp-sample-ratio") c.otlp_sample_ratio = x;
      else if (key == "slo-availability") c.slo_availability = x;
      else if (key == "slo-latency-target") c.slo_latency_target = x;
      return {};
    }
    case Kind::kLevel:
      if (!obs::ParseLevel(v, c.log_level)) return Bad(key, v, "expected debug, info, warn or error");
      return {};
    case Kind::kAddr: {
      if (key == "internal-listen" && v.empty()) {
        c.internal_listen.clear();
        return {};
      }
      size_t colon = v.rfind(':');
      if (colon == std::string_view::npos || colon == 0) return Bad(key, v, "expected host:port");
      auto port = ParseUint(v.substr(colon + 1));
      if (!port || *port > 65535) return Bad(key, v, "port must be 0-65535");
      std::string host(v.substr(0, colon));
      std::string bare = host.size() > 2 && host.front() == '[' && host.back() == ']'
                             ? host.substr(1, host.size() - 2) : host;
      in6_addr scratch;
      if (inet_pton(AF_INET, bare.c_str(), &scratch) != 1 && inet_pton(AF_INET6, bare.c_str(), &scratch) != 1)
        return Bad(key, v, "host must be an IP address (e.g. 127.0.0.1, 0.0.0.0, [::1]); names are not resolved");
      if (key == "internal-listen") {
        c.internal_listen = std::string(v);
        c.internal_host = host;
        c.internal_port = static_cast<uint16_t>(*port);
        return {};
      }
      c.listen = std::string(v);
      c.listen_host = host;
      c.listen_port = static_cast<uint16_t>(*port);
      return {};
    }
    case Kind::kCpus: {
      if (v.empty()) {
        c.cpus.clear();
        return {};
      }
      auto cpus = reactor::ParseCpuList(v);
      if (!cpus) return Bad(key, v, cpus.error().context);
      c.cpus = *cpus;
      return {};
    }
    case Kind::kString:
      if (key == "data-dir") {
        if (v.empty()) return Bad(key, v, "must not be empty");
        c.data_dir = std::string(v);
      } else if (key == "database-url") {
        c.database_url = std::string(v);
      } else if (key == "tls-cert") {
        c.tls_cert = std::string(v);
      } else if (key == "tls-key") {
        c.tls_key = std::string(v);
      } else if (key == "instance-id") {
        if (v.size() > 200) return Bad(key, v, "longer than 200 bytes");
        for (char ch : v)
          if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e)
            return Bad(key, v, "printable ASCII without spaces only");
        c.instance_id = std::string(v);
      } else if (key == "advertise") {
        if (!v.empty()) {
          size_t colon = v.rfind(':');
          if (colon == std::string_view::npos || colon == 0) return Bad(key, v, "expected host:port");
          auto port = ParseUint(v.substr(colon + 1));
          if (!port || *port == 0 || *port > 65535) return Bad(key, v, "port must be 1-65535");
          for (char ch : v)
            if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e || ch == '/' ||
                ch == '?' || ch == '#' || ch == '@')
              return Bad(key, v, "host:port only (no spaces, scheme, path or user)");
        }
        c.advertise = std::string(v);
        c.advertise_given = !v.empty();
      } else if (key == "circuit-breaker") {
        c.circuit_breaker.reset();
        if (!Trim(v).empty()) {
          auto settings = engine::ParseDefaultBreaker(v);
          if (!settings) return Bad(key, v, settings.error().context);
          c.circuit_breaker = *settings;
        }
      } else if (key == "internal-client-ca") {
        c.internal_client_ca = std::string(v);
      } else if (key == "peer-ca-file") {
        c.peer_ca_file = std::string(v);
      } else if (key == "http-ca-file") {
        c.http_ca_file = std::string(v);
      } else if (key == "redis-ca-file") {
        c.redis_ca_file = std::string(v);
      } else if (key == "redis-url") {
        if (!v.empty()) {
          // The message shows the URL without its credentials.
          auto url = store::redis::ParseRedisUrl(v);
          if (!url) return Bad(key, store::redis::RedactRedisUrl(v), url.error().context);
        }
        c.redis_url = std::string(v);
      } else if (key == "auth" || key == "json-mutations") {
        if (v != "auto" && v != "on" && v != "off") return Bad(key, v, "expected on, off or auto");
        if (key == "auth") {
          c.auth_given = v != "auto";
          c.auth = v == "on";
        } else {
          c.json_mutations = v == "on";
          c.json_mutations_given = v != "auto";
        }
      } else if (key == "admin-key") {
        c.admin_key = std::string(v);
      } else if (key == "admin-key-file") {
        c.admin_key_file = std::string(v);
      } else if (key == "secrets-key-file") {
        c.secrets_key_file = std::string(v);
      } else if (key == "secrets-key") {
        c.secrets_key = std::string(v);
      } else if (key == "jwt-secret-file") {
        c.jwt_secret_file = std::string(v);
      } else if (key == "jwks-file") {
        c.jwks_file = std::string(v);
      } else if (key == "zone-dir") {
        c.zone_dir = std::string(v);
      } else if (key == "test-clock-file") {
        c.test_clock_file = std::string(v);
      } else if (key == "quotas-file") {
        c.quotas_file = std::string(v);
      } else if (key == "jwt-issuer") {
        c.jwt_issuer = std::string(v);
      } else if (key == "jwt-audience") {
        c.jwt_audience = std::string(v);
      } else if (key == "allowed-hosts") {
        c.allowed_hosts.clear();
        std::string_view rest = v;
        while (!rest.empty()) {
          const size_t comma = rest.find(',');
          std::string_view h = Trim(rest.substr(0, comma));
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
          if (h.empty()) return Bad(key, v, "empty host name in the list");
          for (char ch : h)
            if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e || ch == '/' || ch == '@')
              return Bad(key, v, "host names only (no spaces, scheme, path or user)");
          c.allowed_hosts.emplace_back(h);
        }
      } else if (key == "otlp-endpoint") {
        if (!v.empty()) {
          auto url = http::client::ParseUrl(v);
          if (!url) return Bad(key, v, url.error().context);
        }
        c.otlp_endpoint = std::string(v);
      } else if (key == "service-name") {
        if (v.empty() || v.size() > 256) return Bad(key, v, "must be 1..256 bytes");
        c.service_name = std::string(v);
      } else if (key == "out") {
        if (v.empty()) return Bad(key, v, "must not be empty (- for standard output)");
        c.archive_out = std::string(v);
      }
      return {};
  }
  return {};
}

Status LoadFile(const std::string& path, std::map<std::string, std::pair<std::string, std::string>>& vals) {
  std::ifstream f(path);
  if (!f) return Error{Errc::kInvalidArgument, "config: cannot read file '" + path + "'"};
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    std::string_view l = Trim(line);
    if (l.empty() || l.front() == '#') continue;
    size_t eq = l.find('=');
    std::string where = path + ":" + std::to_string(lineno);
    if (eq == std::string_view::npos)
      return Error{Errc::kInvalidArgument, where + ": expected `key = value`"};
    std::string key(Trim(l.substr(0, eq)));
    std::string_view val = Trim(l.substr(eq + 1));
    if (val.size() >= 2 && val.front() == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
    if (!Find(key) || key == "config") return Error{Errc::kInvalidArgument, where + ": unknown key '" + key + "'"};
    vals[key] = {std::string(val), "file:" + path};
  }
  return {};
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  auto n = ParseUint(s.substr(0, i));
  if (!n) return Error{Errc::kInvalidArgument, "expected a size like 1048576, 64KiB, 1MiB"};
  std::string_view unit = s.substr(i);
  uint64_t mul;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k") mul = 1ull << 10;
  else if (unit == "MiB" || unit == "M") mul = 1ull << 20;
  else if (unit == "GiB" || unit == "G") mul = 1ull << 30;
  else return Error{Errc::kInvalidArgument, "expected a size like 1048576, 64KiB, 1MiB"};
  if (*n > UINT64_MAX / mul) return Error{Errc::kInvalidArgument, "size too large"};
  return *n * mul;
}

bool AuthDefaultOn(std::string_view host) {
  std::string bare(host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host);
  in_addr v4;
  if (inet_pton(AF_INET, bare.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) != 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, bare.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return false;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] != 127;
    return true;
  }
  return true;  // not an address: never treat it as loopback
}

std::string DefaultAdvertise(std::string_view listen_host, uint16_t port, std::string_view hostname) {
  if (port == 0) return {};  // the port is known only once listening: not advertised
  const bool any = listen_host == "0.0.0.0" || listen_host == "::" || listen_host == "[::]" ||
                   listen_host == "[::0]" || listen_host.empty();
  std::string out(any ? hostname : listen_host);
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<Config> LoadConfig(int argc, char** argv, char** envp) {
  Config c;
  // key -> (value, origin)
  std::map<std::string, std::pair<std::string, std::string>> vals;
  for (const Setting& s : kSettings) vals[s.key] = {s.def, "default"};

  std::map<std::string, std::string> env;
  for (char** e = envp; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }

  std::map<std::string, std::string> flags;
  bool have_command = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      c.command = Command::kHelp;
      return c;
    }
    if (a.starts_with("--")) {
      std::string_view body = a.substr(2);
      std::string key, value;
      size_t eq = body.find('=');
      if (eq != std::string_view::npos) {
        key = body.substr(0, eq);
        value = body.substr(eq + 1);
      } else {
        key = body;
        if (!Find(key)) return Error{Errc::kInvalidArgument, "unknown flag --" + key + " (see --help)"};
        if (i + 1 >= argc) return Error{Errc::kInvalidArgument, "flag --" + key + " needs a value"};
        value = argv[++i];
      }
      if (!Find(key)) return Error{Errc::kInvalidArgument, "unknown flag --" + key + " (see --help)"};
      flags[key] = value;
      continue;
    }
    if (have_command) return Error{Errc::kInvalidArgument, "unexpected argument '" + std::string(a) + "'"};
    have_command = true;
    if (a == "serve") c.command = Command::kServe;
    else if (a == "version") c.command = Command::kVersion;
    else if (a == "config") c.command = Command::kConfig;
    else if (a == "doctor") c.command = Command::kDoctor;
    else if (a == "help") c.command = Command::kHelp;
    else if (a == "archive") c.command = Command::kArchive;
    else if (a == "migrate") {
      c.command = Command::kMigrate;
      if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
        std::string_view sub = argv[++i];
        if (sub != "up" && sub != "status")
          return Error{Errc::kInvalidArgument, "migrate takes up or status, not '" + std::string(sub) + "'"};
        c.migrate_apply = sub == "up";
      }
    }
    else return Error{Errc::kInvalidArgument, "unknown command '" + std::string(a) + "' (serve, version, config, doctor, migrate, archive, help; client: workflows, runs, dead-letter, completion)"};
  }

  std::string file;
  if (auto it = env.find(EnvName("config")); it != env.end()) file = it->second;
  if (auto it = flags.find("config"); it != flags.end()) file = it->second;
  if (!file.empty()) {
    if (auto st = LoadFile(file, vals); !st) return st.error();
    vals["config"] = {file, flags.count("config") ? "flag" : "env:" + EnvName("config")};
  }
  for (const auto& [name, value] : env) {
    if (!name.starts_with("RINGFLOW_")) continue;
    // The client commands' own variables (src/cli) are not the daemon's, but not typos either.
    bool known = name == "RINGFLOW_SERVER" || name == "RINGFLOW_API_KEY";
    for (const Setting& s : kSettings) known = known || EnvName(s.key) == name;
    if (!known) c.warnings.push_back("unknown environment variable " + name + " ignored (typo?)");
  }
  for (const Setting& s : kSettings) {
    std::string name = EnvName(s.key);
    if (auto it = env.find(name); it != env.end() && s.key != std::string_view("config"))
      vals[s.key] = {it->second, "env:" + name};
  }
  // The conventional DATABASE_URL, unless RINGFLOW_DATABASE_URL (or anything stronger) set it.
  if (auto it = env.find("DATABASE_URL"); it != env.end() && vals["database-url"].second == "default")
    vals["database-url"] = {it->second, "env:DATABASE_URL"};
  // Likewise the conventional REDIS_URL.
  if (auto it = env.find("REDIS_URL"); it != env.end() && vals["redis-url"].second == "default")
    vals["redis-url"] = {it->second, "env:REDIS_URL"};
  for (auto& [k, v] : flags) vals[k] = {v, "flag"};

  for (const Setting& s : kSettings) {
    auto& [value, origin] = vals[s.key];
    if (auto st = Apply(c, s, value); !st) {
      Error e = st.error();
      e.context += " (from " + origin + ")";
      return e;
    }
    std::string shown = value;
    if (s.key == std::string_view("database-url")) shown = RedactUrl(value);
    if (s.key == std::string_view("redis-url")) shown = store::redis::RedactRedisUrl(value);
    if ((s.key == std::string_view("admin-key") || s.key == std::string_view("secrets-key")) && !value.empty())
      shown = "***";
    c.effective.push_back({s.key, shown, origin});
  }

  if (c.advertise.empty()) {
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    c.advertise = c.internal_listen.empty() ? DefaultAdvertise(c.listen_host, c.listen_port, host)
                                            : DefaultAdvertise(c.internal_host, c.internal_port, host);
  }

  if (!c.auth_given) c.auth = AuthDefaultOn(c.listen_host);
  if (!c.json_mutations_given) c.json_mutations = c.auth;
  if (flags.count("admin-key"))
    c.warnings.push_back("--admin-key shows the key to anyone who can list processes: use RINGFLOW_ADMIN_KEY or --admin-key-file");
  if (flags.count("secrets-key"))
    c.warnings.push_back("--secrets-key shows the key to anyone who can list processes: use RINGFLOW_SECRETS_KEY or --secrets-key-file");

  if (c.egress_mode == http::client::EgressMode::kAllowAll && !c.egress_allow.empty())
    c.warnings.push_back("--egress-allow has no effect with --egress-policy allow-all");
  if (!c.redis_ca_file.empty() && !c.redis_url.starts_with("rediss://"))
    c.warnings.push_back("--redis-ca-file has no effect without a rediss:// --redis-url");

  if (c.store == Store::kPostgres && c.database_url.empty() &&
      (c.command == Command::kServe || c.command == Command::kMigrate || c.command == Command::kArchive))
    return Error{Errc::kInvalidArgument,
                 "--store postgres needs --database-url (or RINGFLOW_DATABASE_URL / DATABASE_URL)"};
  if (c.leader_renew * 2 > c.leader_ttl)
    return Error{Errc::kInvalidArgument,
                 "invalid value for leader-renew: at most half of --leader-ttl (a leader must renew "
                 "at least twice within its lease)"};
  if (c.tls_cert.empty() != c.tls_key.empty())
    return Error{Errc::kInvalidArgument, "--tls-cert and --tls-key go together (give both or neither)"};
  if (!c.internal_listen.empty() && c.tls_cert.empty())
    return Error{Errc::kInvalidArgument,
                 "--internal-listen needs --tls-cert and --tls-key (the internal port speaks HTTPS only)"};
  if (!c.internal_listen.empty() && c.internal_client_ca.empty())
    return Error{Errc::kInvalidArgument,
                 "--internal-listen needs --internal-client-ca (the CA the other daemons' client "
                 "certificates must chain to)"};
  if (!c.internal_listen.empty() && c.internal_port != 0 && c.internal_port == c.listen_port &&
      c.internal_host == c.listen_host)
    return Error{Errc::kInvalidArgument, "--internal-listen must differ from --listen"};
  if (!c.internal_client_ca.empty() && c.internal_listen.empty())
    c.warnings.push_back("--internal-client-ca has no effect without --internal-listen");
  if (c.command == Command::kMigrate && c.database_url.empty())
    return Error{Errc::kInvalidArgument, "migrate needs --database-url (or RINGFLOW_DATABASE_URL / DATABASE_URL)"};

  // Resolve shards and their CPUs.
  std::vector<int> allowed = c.cpus.empty() ? reactor::AllowedCpus() : c.cpus;
  if (!c.cpus.empty()) {
    std::vector<int> mask = reactor::AllowedCpus();
    for (int cpu : c.cpus)
      if (std::find(mask.begin(), mask.end(), cpu) == mask.end())
        return Error{Errc::kInvalidArgument,
                     "invalid value for cpus: CPU " + std::to_string(cpu) + " is not in this process's affinity mask"};
  }
  unsigned n = c.shards ? c.shards : static_cast<unsigned>(allowed.size());
  c.cpus.clear();
  for (unsigned i = 0; i < n; ++i) c.cpus.push_back(allowed[i % allowed.size()]);
  c.shards = n;
  return c;
}

std::string HelpText() {
  std::string h =
      "ringflow — workflow orchestration engine\n\n"
      "usage: ringflow [serve|version|config|doctor|migrate [up|status]|help] [--key=value ...]\n\n"
      "  serve     run the daemon (default)\n"
      "  version   print the version\n"
      "  config    print the effective configuration and where each value came from\n"
      "  doctor    check the host (kernel, io_uring, NUMA, limits, listener, store, Redis); exit 1 on findings\n"
      "  migrate   PostgreSQL schema: `up` applies pending migrations (default), `status` lists them\n\n"
      "client commands against a running daemon (`ringflow help runs` etc.):\n"
      "  workflows apply|list|get, runs start|get|list|watch|cancel|retry|signal,\n"
      "  dead-letter list|retry, completion bash\n\n"
      "settings (flag --key, env RINGFLOW_KEY, or `key = value` in --config FILE;\n"
      "precedence: default < file < env < flag):\n";
  for (const Setting& s : kSettings) {
    std::string line = "  --" + std::string(s.key);
    line.resize(std::max<size_t>(line.size() + 1, 22), ' ');
    line += s.help;
    line += " [default: ";
    line += *s.def ? s.def : "\"\"";
    line += "]\n";
    h += line;
  }
  return h;
}

}  // namespace rf::app

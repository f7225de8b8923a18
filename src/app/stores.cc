#include "app/stores.h"

#include "app/data_dir.h"
#include "engine/engine.h"
#include "obs/log.h"
#include "store/embedded/embedded_store.h"
#include "store/history/embedded_history.h"
#include "store/postgres/migrate.h"
#include "store/postgres/pg_leader.h"
#include "store/postgres/pg_store.h"
#include "store/redis/redis_event_bus.h"
#include "store/redis/redis_members.h"
#include "store/redis/redis_permits.h"
#include "store/redis/redis_quota.h"
#include "store/redis/redis_url.h"

namespace rf::app {

int OpenStores(const Config& config, Stores& out) {
  if (config.store == Store::kPostgres) {
    // Blocking checks before any shard runs: the schema must be the one this binary knows.
    Result<store::pg::SchemaState> state = Error{Errc::kInternal, "not read"};
    if (config.migrate) {
      state = store::pg::MigrateUp(config.database_url);  // the state after migrating
      if (!state) {
        RF_LOG(kError, "schema migration failed", {"error", state.error().ToString()});
        return 1;
      }
    } else {
      state = store::pg::ReadSchema(config.database_url);
    }
    const Status schema = state ? store::pg::CheckSchema(*state) : Status(state.error());
    if (!schema) {
      RF_LOG(kError, "cannot use the database", {"error", schema.error().context});
      return 1;
    }
    out.cluster_secret = std::move(state->cluster_secret);
    if (out.cluster_secret.empty())
      RF_LOG(kWarn, "the database has no cluster secret (table cluster_secret is empty): requests "
                    "between daemons are not signed, so with --auth on a schedule's fire runs on "
                    "its schedule's partition, apart from its key's runs");
    store::pg::PgOptions po;
    po.url = config.database_url;
    po.pool = config.pg_pool;
    po.read_pool = config.pg_read_pool;
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
        out.redis_tls = std::move(*t);
        conn.tls = out.redis_tls.get();
        RF_LOG(kInfo, "redis over TLS", {"redis", url->Endpoint()}, {"ca_file", out.redis_tls->ca_file()});
      }
      out.bus = std::make_unique<store::redis::RedisEventBus>(*url, po.instance, conn);
      out.members = std::make_unique<store::redis::RedisMemberDirectory>(
          store::redis::RedisMembersOptions{.url = *url, .conn = conn, .instance = po.instance,
                                            .advertise = po.advertise});
      out.arbiter = std::make_unique<store::redis::RedisLeaderElection>(*url, po.instance, config.leader_renew, conn);
      // A quota decision never waits for Redis; a batch slower than this falls back to the split.
      constexpr Nanos kQuotaRedisTimeout = 500 * kMillis;
      if (!config.quotas_file.empty())
        for (unsigned i = 0; i < config.shards; ++i)
          out.quota_shares.push_back(
              std::make_unique<store::redis::RedisQuotaShare>(*url, po.instance, kQuotaRedisTimeout, conn));
      // A waiting step asks again soon; a slow answer falls back to the split sooner than that.
      constexpr Nanos kPermitRedisTimeout = kSeconds;
      for (unsigned i = 0; i < config.shards; ++i)
        out.permit_shares.push_back(
            std::make_unique<store::redis::RedisPermitShare>(*url, po.instance, i, kPermitRedisTimeout, conn));
    }
    out.authority = std::make_unique<store::pg::PgLeaderElection>(po, config.leader_renew);
    out.holder = po.instance;
    out.factory = std::make_unique<store::pg::PgStoreFactory>(po);
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
    out.factory = std::make_unique<store::embedded::EmbeddedStoreFactory>(config.data_dir, config.fsync,
                                                                      std::move(history));
  }
  return 0;
}

}  // namespace rf::app

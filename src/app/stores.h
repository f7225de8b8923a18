#pragma once
// The stores a daemon runs on, built from the configuration before any shard runs: the only
// place that names the concrete adapters (embedded journal + RocksDB history, or PostgreSQL
// with Redis for events and leader election). Blocking checks (schema migration and version,
// the data directory's layout, TLS files) happen here, where blocking is allowed.

#include <memory>
#include <string>
#include <vector>

#include "app/config.h"
#include "store/leader_election.h"
#include "store/member_directory.h"
#include "store/permit_share.h"
#include "store/quota_share.h"
#include "store/redis/redis_leader.h"
#include "store/store.h"
#include "tls/tls_client.h"

namespace rf::app {

struct Stores {
  std::unique_ptr<store::StoreFactory> factory;
  std::unique_ptr<tls::TlsClientContext> redis_tls;  // rediss://: outlives the bus
  std::unique_ptr<store::EventBus> bus;  // --redis-url with --store postgres: events across instances
  // --redis-url with --store postgres: membership heartbeats with a TTL (redis_members.h).
  std::unique_ptr<store::MemberDirectory> members;
  // Leader election of the singleton jobs: the lease rows in PostgreSQL, contended in Redis first
  // when there is one (store/leadership.h). Both null on the embedded store.
  std::unique_ptr<store::LeaderElection> authority;
  std::unique_ptr<store::redis::RedisLeaderElection> arbiter;
  std::string holder;  // this daemon's name in the leases
  // --redis-url: the quotas' buckets and live counts shared by the cluster, one per shard (a
  // connection each); empty without Redis (each instance enforces its split).
  std::vector<std::unique_ptr<store::QuotaShare>> quota_shares;
  std::vector<std::unique_ptr<store::PermitShare>> permit_shares;  // per shard (--redis-url)
  // PostgreSQL: the cluster's secret (migration 0014), what requests between daemons are signed
  // with (auth/peer_signature.h); empty on the embedded store.
  std::string cluster_secret;
};

// 0 with `out` filled, or the exit code after logging why the stores cannot be used.
int OpenStores(const Config& config, Stores& out);

}  // namespace rf::app

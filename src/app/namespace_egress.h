#pragma once
// Egress allowlists per namespace ("egress_allow" in --quotas-file, reloaded on SIGHUP): a
// namespace's http steps may reach what --egress-allow admits plus its own entries. One table
// per shard, built from the file and swapped whole on that shard by a reload; a call keeps the
// policy it started with (a shared_ptr) until it ends. Each shard's table owns its own policies,
// so the reference a call takes touches no other shard's cache lines.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/client/egress_policy.h"
#include "quota/quota.h"

namespace rf::app {

class NamespaceEgress {
 public:
  using Table = std::map<std::string, std::shared_ptr<const http::client::EgressPolicy>, std::less<>>;

  // `daemon_allow`, `mode`: --egress-allow and --egress-policy.
  NamespaceEgress(size_t shards, std::string daemon_allow, http::client::EgressMode mode);

  // The policies of the namespaces `c` gives an allowlist. Errors (kInvalidArgument) name the
  // namespace and the entry. Pure.
  Result<Table> Build(const quota::Config& c) const;
  // On `shard`: its table from now on.
  void Set(unsigned shard, Table table) { shards_[shard]->table = std::move(table); }
  // On `shard`: the policy of `ns`'s calls; null: the daemon's.
  std::shared_ptr<const http::client::EgressPolicy> For(unsigned shard, std::string_view ns) const;
  size_t size(unsigned shard) const { return shards_[shard]->table.size(); }

 private:
  struct alignas(64) Slot {
    Table table;
  };
  std::vector<std::unique_ptr<Slot>> shards_;
  std::string daemon_allow_;
  http::client::EgressMode mode_;
};

}  // namespace rf::app

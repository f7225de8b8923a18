#include "app/namespace_egress.h"

namespace rf::app {

NamespaceEgress::NamespaceEgress(size_t shards, std::string daemon_allow, http::client::EgressMode mode)
    : daemon_allow_(std::move(daemon_allow)), mode_(mode) {
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Slot>());
}

Result<NamespaceEgress::Table> NamespaceEgress::Build(const quota::Config& c) const {
  Table t;
  if (mode_ == http::client::EgressMode::kAllowAll) return t;  // nothing is denied anyway
  for (const auto& [ns, limits] : c.namespaces) {
    if (limits.egress_allow.empty()) continue;
    std::string list = daemon_allow_;
    if (!list.empty()) list += ',';
    list += limits.egress_allow;
    auto policy = http::client::EgressPolicy::Parse(list, mode_);
    if (!policy)
      return Error{Errc::kInvalidArgument, "/namespaces/" + ns + "/egress_allow: " + policy.error().context};
    t.emplace(ns, std::make_shared<const http::client::EgressPolicy>(std::move(*policy)));
  }
  return t;
}

std::shared_ptr<const http::client::EgressPolicy> NamespaceEgress::For(unsigned shard, std::string_view ns) const {
  const Table& t = shards_[shard]->table;
  if (t.empty()) return nullptr;
  auto it = t.find(ns);
  return it == t.end() ? nullptr : it->second;
}

}  // namespace rf::app

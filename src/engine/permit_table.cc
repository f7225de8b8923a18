#include "engine/permit_table.h"

#include <algorithm>
#include <cstring>

#include "base/hash_ring.h"

namespace rf::engine {

std::string PermitScope(std::string_view qualified_workflow, std::string_view step_id,
                        std::string_view scope_name) {
  std::string out;
  if (scope_name.empty()) {
    out.reserve(qualified_workflow.size() + 1 + step_id.size());
    out.append(qualified_workflow).append(1, '#').append(step_id);
    return out;
  }
  // The namespace of a qualified name is what precedes its '/' (base/tenancy.h); none: default.
  const size_t slash = qualified_workflow.find('/');
  const std::string_view ns = slash == std::string_view::npos ? std::string_view("default")
                                                              : qualified_workflow.substr(0, slash);
  out.append(ns).append(1, '/').append(scope_name);
  return out;
}

std::string PermitId(std::string_view scope, std::string_view key) {
  std::string out;
  out.reserve(scope.size() + 1 + key.size());
  out.append(scope).append(1, '\n').append(key);
  return out;
}

unsigned PermitHome(std::string_view id, size_t shards) {
  if (shards <= 1) return 0;
  uint64_t h = Fnv1a64(id);
  h ^= h >> 32;
  return static_cast<unsigned>(h % shards);
}

PermitTable::Outcome PermitTable::Acquire(const std::string& id, int64_t limit, PermitWaiter w) {
  auto it = ids_.find(id);
  if (it == ids_.end()) {
    if (limit > 0 && !gated_) {  // a new id always has a free permit: no lookup of the bound needed
      Id& n = ids_[id];
      n.limit = limit;
      n.in_use = 1;
      ++in_use_;
      return Outcome::kGranted;
    }
    it = ids_.emplace(id, Id{}).first;
  }
  Id& n = it->second;
  n.limit = std::max<int64_t>(limit, 1);
  if (n.queue.empty() && Free(n)) {
    ++n.in_use;
    ++in_use_;
    return Outcome::kGranted;
  }
  if (waiting_ >= max_waiting_) {
    MaybeDrop(it);
    return Outcome::kFull;
  }
  n.queue.push_back(w);
  ++waiting_;
  return Outcome::kQueued;
}

void PermitTable::GrantWhileFree(Id& n, std::vector<PermitWaiter>& granted) {
  while (!n.queue.empty() && Free(n)) {
    granted.push_back(n.queue.front());
    n.queue.pop_front();
    --waiting_;
    ++n.in_use;
    ++in_use_;
  }
}

void PermitTable::Release(const std::string& id, std::vector<PermitWaiter>& granted) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return;  // nothing held (cannot happen with a well-behaved asker)
  Id& n = it->second;
  if (n.in_use > 0) {
    --n.in_use;
    --in_use_;
  }
  if (gated_) {
    n.allowance = std::max<int64_t>(n.allowance - 1, 0);  // its lease goes back to the cluster
  }
  GrantWhileFree(n, granted);
  MaybeDrop(it);
}

bool PermitTable::Allow(const std::string& id, std::vector<PermitWaiter>& granted) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return false;
  Id& n = it->second;
  if (n.queue.empty() || n.in_use >= n.limit) return false;
  ++n.allowance;
  GrantWhileFree(n, granted);
  return true;
}

bool PermitTable::Wants(const std::string& id) const {
  auto it = ids_.find(id);
  if (it == ids_.end()) return false;
  const Id& n = it->second;
  return !n.queue.empty() && n.in_use < n.limit && n.in_use >= n.allowance;
}

int64_t PermitTable::InUse(const std::string& id) const {
  auto it = ids_.find(id);
  return it == ids_.end() ? 0 : it->second.in_use;
}

int64_t PermitTable::Limit(const std::string& id) const {
  auto it = ids_.find(id);
  return it == ids_.end() ? 1 : it->second.limit;
}

bool PermitTable::Cancel(const std::string& id, PermitWaiter w) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return false;
  auto& q = it->second.queue;
  auto pos = std::find(q.begin(), q.end(), w);
  if (pos == q.end()) return false;
  q.erase(pos);
  --waiting_;
  MaybeDrop(it);
  return true;
}

size_t PermitTable::CancelShard(unsigned shard) {
  size_t n = 0;
  for (auto it = ids_.begin(); it != ids_.end();) {
    auto& q = it->second.queue;
    const size_t before = q.size();
    std::erase_if(q, [&](const PermitWaiter& w) { return w.shard == shard; });
    n += before - q.size();
    waiting_ -= before - q.size();
    if (it->second.in_use == 0 && q.empty()) {
      it = ids_.erase(it);
    } else {
      ++it;
    }
  }
  return n;
}

void PermitTable::MaybeDrop(std::unordered_map<std::string, Id>::iterator it) {
  if (it->second.in_use == 0 && it->second.queue.empty()) ids_.erase(it);
}

std::vector<PermitKeyView> PermitTable::Views(const std::vector<std::string>& scopes, size_t max,
                                              unsigned shard) const {
  std::vector<PermitKeyView> out;
  for (const auto& [id, n] : ids_) {
    const size_t nl = id.find('\n');
    const std::string_view scope = std::string_view(id).substr(0, nl);
    if (!scopes.empty() && std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) continue;
    PermitKeyView v;
    v.scope = std::string(scope);
    v.key = nl == std::string::npos ? std::string() : id.substr(nl + 1);
    v.in_use = n.in_use;
    v.waiting = static_cast<int64_t>(n.queue.size());
    v.limit = n.limit;
    v.shard = shard;
    out.push_back(std::move(v));
  }
  auto busier = [](const PermitKeyView& a, const PermitKeyView& b) {
    if (a.waiting != b.waiting) return a.waiting > b.waiting;
    if (a.in_use != b.in_use) return a.in_use > b.in_use;
    return a.scope != b.scope ? a.scope < b.scope : a.key < b.key;
  };
  if (out.size() > max) {
    std::partial_sort(out.begin(), out.begin() + static_cast<long>(max), out.end(), busier);
    out.resize(max);
  } else {
    std::sort(out.begin(), out.end(), busier);
  }
  return out;
}

void PermitTop::Publish(const std::vector<PermitKeyView>& busiest) {
  const size_t n = std::min(busiest.size(), kSlots);
  const uint64_t v = version_.load(std::memory_order_relaxed);
  version_.store(v + 1, std::memory_order_relaxed);  // odd: a publish is under way
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < n; ++i) {
    std::string label = busiest[i].scope;
    label.append(1, '\n').append(busiest[i].key);
    if (label.size() > kLabelBytes) {
      size_t cut = kLabelBytes;
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
      label.resize(cut);
    }
    Slot& s = slots_[i];
    std::array<uint64_t, kWords> words{};
    std::memcpy(words.data(), label.data(), label.size());
    for (size_t w = 0; w < kWords; ++w) s.label[w].store(words[w], std::memory_order_relaxed);
    s.label_size.store(static_cast<uint32_t>(label.size()), std::memory_order_relaxed);
    s.waiting.store(busiest[i].waiting, std::memory_order_relaxed);
    s.in_use.store(busiest[i].in_use, std::memory_order_relaxed);
  }
  count_.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
  version_.store(v + 2, std::memory_order_release);
}

std::vector<PermitTop::Row> PermitTop::Read() const {
  for (int tries = 0; tries < 64; ++tries) {
    const uint64_t v1 = version_.load(std::memory_order_acquire);
    if (v1 & 1) continue;
    std::vector<Row> rows(std::min<size_t>(count_.load(std::memory_order_relaxed), kSlots));
    for (size_t i = 0; i < rows.size(); ++i) {
      const Slot& s = slots_[i];
      std::array<uint64_t, kWords> words;
      for (size_t w = 0; w < kWords; ++w) words[w] = s.label[w].load(std::memory_order_relaxed);
      const size_t size =
          std::min<size_t>(s.label_size.load(std::memory_order_relaxed), kLabelBytes);
      std::string label(reinterpret_cast<const char*>(words.data()), size);
      const size_t nl = label.find('\n');
      rows[i].scope = label.substr(0, nl);
      rows[i].key = nl == std::string::npos ? std::string() : label.substr(nl + 1);
      rows[i].waiting = s.waiting.load(std::memory_order_relaxed);
      rows[i].in_use = s.in_use.load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (version_.load(std::memory_order_relaxed) == v1) return rows;
  }
  return {};
}

}  // namespace rf::engine

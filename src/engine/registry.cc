#include "engine/registry.h"

#include "base/tenancy.h"
#include "json/parse.h"
#include "json/value_limits.h"
#include "json/writer.h"

namespace rf::engine {

const std::shared_ptr<const Definition>* Registry::Latest(std::string_view name) const {
  auto it = map_.find(name);
  if (it == map_.end() || it->second.deleted || it->second.versions.empty()) return nullptr;
  return &it->second.versions.back();
}

const std::shared_ptr<const Definition>* Registry::Find(std::string_view name,
                                                       int64_t version) const {
  auto it = map_.find(name);
  if (it == map_.end() || version < 1 ||
      version > static_cast<int64_t>(it->second.versions.size()))
    return nullptr;
  return &it->second.versions[static_cast<size_t>(version - 1)];
}

Registry::PutResult Registry::NextVersion(std::string_view name, std::string_view source) const {
  auto it = map_.find(name);
  if (it == map_.end() || it->second.versions.empty()) return {1, true};
  const auto& latest = it->second.versions.back();
  if (!it->second.deleted && latest->source == source) return {latest->version, false};
  return {latest->version + 1, true};
}

void Registry::Add(std::shared_ptr<const Definition> def) {
  WorkflowVersions& w = map_[def->name];
  w.deleted = false;
  w.versions.push_back(std::move(def));
}

void Registry::Undo(std::string_view name, int64_t version, bool was_deleted) {
  auto it = map_.find(name);
  if (it == map_.end() || it->second.versions.empty() || it->second.versions.back()->version != version) return;
  it->second.versions.pop_back();
  it->second.deleted = was_deleted;
  if (it->second.versions.empty()) map_.erase(it);
}

bool Registry::IsDeleted(std::string_view name) const {
  auto it = map_.find(name);
  return it != map_.end() && it->second.deleted;
}

bool Registry::Delete(std::string_view name) {
  auto it = map_.find(name);
  if (it == map_.end() || it->second.deleted) return false;
  it->second.deleted = true;
  return true;
}

// A put keeps the source as a JSON string: up to kMaxDefinitionBytes, escaped, and stores
// that keep definitions as JSON records replay them within json's replay limits.
static_assert(json::kReplayMaxBytes >=
              json::kMaxRecordEnvelopeBytes + json::kMaxEscapeGrowth * kMaxDefinitionBytes);

Status ApplyDefinition(Registry& reg, const store::DefinitionChange& change) {
  auto bad = [](std::string what) { return Error{Errc::kCorrupt, "definitions log: " + what}; };
  const std::string& name = change.name;
  if (change.kind == store::DefinitionChange::Kind::kDelete) {
    reg.Delete(name);
    return {};
  }
  Compiled c = CompileDefinition(name, change.source, change.version);
  if (!c.def) {
    return bad("workflow '" + name + "' version " + std::to_string(change.version) +
               " no longer compiles: " + c.errors.front().pointer + ": " + c.errors.front().message);
  }
  if (reg.Find(name, change.version)) return bad("workflow '" + name + "' version repeated");
  auto latest = reg.workflows().find(name);
  int64_t expect = latest == reg.workflows().end() ? 1
                                                   : static_cast<int64_t>(latest->second.versions.size()) + 1;
  if (change.version != expect) return bad("workflow '" + name + "' versions skip");
  reg.Add(std::move(c.def));
  return {};
}

const std::vector<std::shared_ptr<const Definition>>* Registry::Subscribers(std::string_view ns,
                                                                          std::string_view event) const {
  thread_local std::string key;
  key.assign(ns).append(1, '\n').append(event);
  auto it = triggers_.find(key);
  return it == triggers_.end() ? nullptr : &it->second;
}

void Registry::IndexTriggers() {
  triggers_.clear();
  for (const auto& [name, w] : map_) {
    if (w.deleted || w.versions.empty()) continue;
    const std::shared_ptr<const Definition>& def = w.versions.back();
    for (const Trigger& t : def->triggers) {
      std::string key(SplitQualified(name).ns);
      key.append(1, '\n').append(t.event);
      triggers_[key].push_back(def);
    }
  }
}

}  // namespace rf::engine

#include "engine/registry.h"

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

bool Registry::Delete(std::string_view name) {
  auto it = map_.find(name);
  if (it == map_.end() || it->second.deleted) return false;
  it->second.deleted = true;
  return true;
}

std::string EncodeDefinitionPut(const Definition& def) {
  json::Object o{{"name", def.name}, {"version", def.version}, {"source", def.source}};
  return json::ToString(json::Value(std::move(o)));
}

std::string EncodeDefinitionDelete(std::string_view name) {
  return json::ToString(json::Value(json::Object{{"name", std::string(name)}}));
}

Status ApplyDefinitionRecord(Registry& reg, uint8_t type, std::string_view payload) {
  // A put holds the source as a string: up to kMaxDefinitionBytes, escaped (json/value_limits.h).
  static_assert(json::kReplayMaxBytes >=
                json::kMaxRecordEnvelopeBytes + json::kMaxEscapeGrowth * kMaxDefinitionBytes);
  auto v = json::Parse(payload,
                       {.max_bytes = json::kReplayMaxBytes, .max_depth = json::kReplayMaxDepth});
  auto bad = [](std::string what) { return Error{Errc::kCorrupt, "definitions log: " + what}; };
  if (!v) return bad("undecodable record");
  const json::Value* name = v->Find("name");
  if (!name || !name->is_string()) return bad("record without a name");
  if (type == static_cast<uint8_t>(DefinitionRecord::kDelete)) {
    reg.Delete(name->as_string());
    return {};
  }
  if (type != static_cast<uint8_t>(DefinitionRecord::kPut)) return bad("unknown record type");
  const json::Value* version = v->Find("version");
  const json::Value* source = v->Find("source");
  if (!version || !version->is_int() || !source || !source->is_string())
    return bad("put record without version or source");
  Compiled c = CompileDefinition(name->as_string(), source->as_string(), version->as_int());
  if (!c.def) {
    return bad("workflow '" + name->as_string() + "' version " +
               std::to_string(version->as_int()) + " no longer compiles: " +
               c.errors.front().pointer + ": " + c.errors.front().message);
  }
  auto existing = reg.Find(name->as_string(), version->as_int());
  if (existing) return bad("workflow '" + name->as_string() + "' version repeated");
  auto latest = reg.workflows().find(name->as_string());
  int64_t expect = latest == reg.workflows().end() ? 1
                                                   : static_cast<int64_t>(latest->second.versions.size()) + 1;
  if (version->as_int() != expect) return bad("workflow '" + name->as_string() + "' versions skip");
  reg.Add(std::move(c.def));
  return {};
}

}  // namespace rf::engine

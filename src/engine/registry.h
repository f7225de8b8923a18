#pragma once
// Registry: every registered workflow and all its versions, as an immutable
// value. Shard 0 owns the master copy (DefinitionStore); after each durable
// change it publishes a new Registry to every shard, which then reads its own
// pointer without locks. Runs hold their version's Definition by shared_ptr,
// so a version stays alive while a run uses it, even after a DELETE.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "engine/definition.h"
#include "store/store.h"

namespace rf::engine {

struct WorkflowVersions {
  std::vector<std::shared_ptr<const Definition>> versions;  // versions[i]->version == i + 1
  bool deleted = false;  // no new runs; a later PUT registers it again
};

class Registry {
 public:
  // The latest version, or nullptr when unknown or deleted.
  const std::shared_ptr<const Definition>* Latest(std::string_view name) const;
  // Any version (also of a deleted workflow: its runs still need it), or nullptr.
  const std::shared_ptr<const Definition>* Find(std::string_view name, int64_t version) const;
  const std::map<std::string, WorkflowVersions, std::less<>>& workflows() const { return map_; }
  // The latest versions of the workflows of namespace `ns` that a trigger starts on events of
  // type `event`, in name order; null when none. Filled by IndexTriggers (published copies).
  const std::vector<std::shared_ptr<const Definition>>* Subscribers(std::string_view ns,
                                                                    std::string_view event) const;
  void IndexTriggers();

  // Mutations, on the master copy only (DefinitionStore).
  // A new version unless `source` equals the latest's; returns the version and whether it is new.
  struct PutResult {
    int64_t version = 0;
    bool created = false;
  };
  PutResult NextVersion(std::string_view name, std::string_view source) const;
  void Add(std::shared_ptr<const Definition> def);
  bool Delete(std::string_view name);  // false: unknown or already deleted
  // Undoes the Add of `version` when it is still the latest (its commit was refused:
  // another instance made that version first); `was_deleted`: the state before the Add.
  void Undo(std::string_view name, int64_t version, bool was_deleted);
  bool IsDeleted(std::string_view name) const;

 private:
  std::map<std::string, WorkflowVersions, std::less<>> map_;
  // ns + '\n' + event type -> subscribers (IndexTriggers)
  std::map<std::string, std::vector<std::shared_ptr<const Definition>>, std::less<>> triggers_;
};

// Applies one change of the definitions log to `reg` (at start). kCorrupt if it
// does not compile or does not follow the versions before it.
Status ApplyDefinition(Registry& reg, const store::DefinitionChange& change);

}  // namespace rf::engine

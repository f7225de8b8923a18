#pragma once
// The embedded adapter of ScheduleStore: the schedules of one shard under <data>/shard-N/, as a
// snapshot (schedules.json, rewritten atomically, table_file.h) and a journal of the changes
// since (schedules.journal: one JSON line per change, appended and fdatasync'd), so a change
// costs one small append, not a rewrite of every schedule. Once the journal outgrows the
// snapshot (and 1 MiB) the snapshot is written again and the journal emptied; replaying a
// journal over a snapshot that already holds its changes ends in the same state (changes are
// whole rows, and cursors only move forward), so a crash between the two loses nothing. A torn
// last line (the append a crash interrupted) is dropped; damage before it refuses to load.
// File I/O runs on the offload pool; one change at a time (reactor/turns.h). Used by one shard.

#include <map>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "reactor/turns.h"
#include "store/store.h"

namespace rf::store::embedded {

class ScheduleFile final : public ScheduleStore {
 public:
  ScheduleFile(std::string data_dir, unsigned shard)
      : dir_(data_dir + "/shard-" + std::to_string(shard)) {}
  reactor::Task<Result<std::vector<ScheduleRow>>> Load(std::vector<uint32_t> partitions) override;
  reactor::Task<Status> Put(ScheduleRow row) override;
  reactor::Task<Status> Delete(std::string name) override;
  reactor::Task<Status> Fired(std::vector<ScheduleFire> fires) override;

  // Pure, for tests: the snapshot's text for `rows` and back, and the journal's lines applied
  // to `rows`. Errors: kCorrupt naming what is wrong.
  static std::string Encode(const std::map<std::string, ScheduleRow>& rows);
  static Result<std::map<std::string, ScheduleRow>> Decode(std::string_view text);
  static Status ApplyJournal(std::string_view text, std::map<std::string, ScheduleRow>& rows);

 private:
  reactor::Task<Status> EnsureLoaded();
  // Appends `lines` to the journal (durable on return) and applies them; compacts when due.
  reactor::Task<Status> Append(std::string lines);
  std::string dir_;
  std::map<std::string, ScheduleRow> rows_;  // as durable
  bool loaded_ = false;
  uint64_t journal_bytes_ = 0;
  uint64_t snapshot_bytes_ = 0;
  reactor::Turns turns_;
};

}  // namespace rf::store::embedded

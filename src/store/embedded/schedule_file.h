#pragma once
// The embedded adapter of ScheduleStore: the schedules of one shard in
// <data>/shard-N/schedules.json, rewritten atomically on every change (table_file.h), one
// change at a time (reactor/turns.h). The scheduler batches the fires of a loop turn into one
// Fired call, so a busy shard rewrites the file once per batch, not once per fire.

#include <map>
#include <string>
#include <vector>

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

  // Pure, for tests: the file's text for `rows` and back. Errors: kCorrupt naming what is wrong.
  static std::string Encode(const std::map<std::string, ScheduleRow>& rows);
  static Result<std::map<std::string, ScheduleRow>> Decode(std::string_view text);

 private:
  reactor::Task<Status> EnsureLoaded();
  reactor::Task<Status> Save(std::map<std::string, ScheduleRow> rows);
  std::string dir_;
  std::map<std::string, ScheduleRow> rows_;  // as durable
  bool loaded_ = false;
  reactor::Turns turns_;
};

}  // namespace rf::store::embedded

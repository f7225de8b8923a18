#pragma once
// The PostgreSQL adapter of ScheduleStore: the schedules table (migration 0010). Each shard's
// scheduler has its own; calls are blocking libpq on the offload pool (pg_blocking.h), one at a
// time per store (reactor/turns.h) over one connection kept between calls and made again
// after an error. Fires come in batches (one statement per batch), not one per fire.

#include <string>
#include <vector>

#include "reactor/turns.h"
#include "store/postgres/pg_blocking.h"
#include "store/store.h"

namespace rf::store::pg {

class PgScheduleStore final : public ScheduleStore {
 public:
  explicit PgScheduleStore(std::string url) : url_(std::move(url)) {}
  reactor::Task<Result<std::vector<ScheduleRow>>> Load(std::vector<uint32_t> partitions) override;
  reactor::Task<Status> Put(ScheduleRow row) override;
  reactor::Task<Status> Delete(std::string name) override;
  reactor::Task<Status> Fired(std::vector<ScheduleFire> fires) override;
  bool shared() const override { return true; }

 private:
  std::string url_;
  BlockingConn conn_;  // used by one offload job at a time (turns_)
  reactor::Turns turns_;
};

}  // namespace rf::store::pg

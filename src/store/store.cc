#include "store/store.h"

#include "store/history_store.h"

namespace rf::store {

reactor::Task<Result<std::optional<std::string>>> HistoryStore::LogAfterMiss(RunId id) {
  auto run = co_await Get(id);  // suspends
  if (!run) co_return run.error();
  if (!*run) co_return std::optional<std::string>();
  co_return std::optional<std::string>(std::move((*run)->log));
}

reactor::Task<Status> RunStore::WriteSnapshot(uint64_t, std::string) {
  co_return Error{Errc::kInvalidArgument, "this store takes no snapshots"};
}

reactor::Task<Result<std::vector<OutboxRow>>> RunStore::History(const RunId&, uint64_t) {
  co_return Error{Errc::kInvalidArgument, "this store keeps no event history"};
}

reactor::Task<Result<std::vector<uint32_t>>> RunStore::TakeOver(std::vector<uint32_t>, RecordSink&) {
  co_return std::vector<uint32_t>{};
}

reactor::Task<Status> RunStore::Release(std::vector<uint32_t>) {
  co_return Error{Errc::kInvalidArgument, "this store's partitions never move"};
}

reactor::Task<Result<std::vector<Member>>> RunStore::Members() {
  co_return Error{Errc::kInvalidArgument, "this store has no cluster members"};
}

reactor::Task<Result<std::string>> RunStore::HolderOf(uint32_t partition) {
  co_return Error{Errc::kNotFound, "partition " + std::to_string(partition) + " has no other holder"};
}

reactor::Task<Status> DefinitionLog::Reload(DefinitionSink&) { co_return Status{}; }

}  // namespace rf::store

#pragma once
// The embedded adapter of KeyStore: the whole key table in <data>/keys.json, rewritten on every
// change (keys change rarely and are few): written to keys.json.tmp, fdatasync'd, renamed over
// keys.json and the directory fsync'd, so a crash leaves the old or the new table, never a mix.
// All file I/O runs on the offload pool (Offload), never on the shard. Used by one shard.

#include <string>
#include <vector>

#include "store/store.h"

namespace rf::store::embedded {

class KeyFile final : public KeyStore {
 public:
  explicit KeyFile(std::string data_dir) : dir_(std::move(data_dir)) {}
  reactor::Task<Result<std::vector<ApiKeyRow>>> Load() override;
  reactor::Task<Status> Insert(const ApiKeyRow& key) override;
  reactor::Task<Status> Revoke(std::string_view id, int64_t at_ms) override;

  // Pure, for tests: the file's text for `keys` and back. Errors: kCorrupt naming what is wrong.
  static std::string Encode(const std::vector<ApiKeyRow>& keys);
  static Result<std::vector<ApiKeyRow>> Decode(std::string_view text);

 private:
  reactor::Task<Status> Save(std::vector<ApiKeyRow> keys);
  std::string dir_;
  std::vector<ApiKeyRow> keys_;  // as durable (after Load)
  bool loaded_ = false;
};

}  // namespace rf::store::embedded

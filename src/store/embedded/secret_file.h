#pragma once
// The embedded adapter of SecretStore: every secret (sealed, never in clear) in
// <data>/secrets.json, rewritten atomically on every change (table_file.h), as keys.json is.
// Used by one shard.

#include <string>
#include <vector>

#include "store/store.h"

namespace rf::store::embedded {

class SecretFile final : public SecretStore {
 public:
  explicit SecretFile(std::string data_dir) : dir_(std::move(data_dir)) {}
  reactor::Task<Result<std::vector<SecretRow>>> Load() override;
  reactor::Task<Status> Put(const SecretRow& row) override;
  reactor::Task<Status> Delete(std::string_view ns, std::string_view name) override;

  // Pure, for tests: the file's text for `rows` and back. Errors: kCorrupt naming what is wrong.
  static std::string Encode(const std::vector<SecretRow>& rows);
  static Result<std::vector<SecretRow>> Decode(std::string_view text);

 private:
  reactor::Task<Status> EnsureLoaded();
  reactor::Task<Status> Save(std::vector<SecretRow> rows);
  std::string dir_;
  std::vector<SecretRow> rows_;  // as durable, ordered by (ns, name)
  bool loaded_ = false;
};

}  // namespace rf::store::embedded

#include "app/security.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/check.h"
#include "obs/log.h"

namespace rf::app {

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "cannot open " + path);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error::FromErrno(err, "cannot read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) {
      ::close(fd);
      return Error{Errc::kTooLarge, path + " is over 1 MiB"};
    }
  }
  ::close(fd);
  return out;
}

Result<std::shared_ptr<const auth::SecretKey>> LoadSecretsKey(const Config& config) {
  std::string text = config.secrets_key;
  std::string where = "RINGFLOW_SECRETS_KEY";
  if (!config.secrets_key_file.empty()) {
    auto read = ReadSmallFile(config.secrets_key_file);
    if (!read) return Error{Errc::kInvalidArgument, "--secrets-key-file: " + read.error().ToString()};
    text = std::move(*read);
    where = "--secrets-key-file " + config.secrets_key_file;
    struct stat st;
    if (::stat(config.secrets_key_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
      RF_LOG(kWarn, "the secrets key file can be read by other users: chmod 600 it",
             {"secrets_key_file", config.secrets_key_file});
  }
  if (text.empty()) return std::shared_ptr<const auth::SecretKey>();
  auto key = auth::SecretKey::Parse(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) return Error{Errc::kInvalidArgument, where + ": " + key.error().context};
  return std::make_shared<const auth::SecretKey>(std::move(*key));
}

Security::Security(const Config& config, store::StoreFactory& stores,
                   std::shared_ptr<const auth::SecretKey> key) {
  std::vector<auth::SecretVault*> shards;
  for (unsigned i = 0; i < config.shards; ++i) {
    vaults.push_back(std::make_unique<auth::SecretVault>(key));
    shards.push_back(vaults.back().get());
  }
  secrets = std::make_unique<auth::SecretService>(stores.MakeSecretStore(), key, std::move(shards));
  auth::AuditOptions ao;
  ao.queue = config.audit_queue;
  ao.retention = config.audit_retention;
  auto audit_store = stores.MakeAuditStore(config.audit_max_bytes);
  RF_CHECK(audit_store != nullptr);  // every adapter keeps one: mutations are never unaudited
  audit = std::make_unique<auth::AuditLog>(std::move(audit_store), ao, config.shards);
  audit_gate = std::make_unique<api::AuditGate>(audit.get(), config.auth);
}

reactor::Task<Status> Security::Open() {
  Status st = co_await secrets->Open();  // suspends
  if (!st) co_return Error{st.error().code, "secrets: " + st.error().ToString()};
  st = co_await audit->Open();  // suspends
  if (!st) co_return Error{st.error().code, "audit log: " + st.error().ToString()};
  co_return Status{};
}

reactor::Task<void> Security::Close() {
  co_await audit->Close();    // suspends
  co_await secrets->Close();  // suspends
}

void Security::RenderMetrics(std::string& out) const {
  std::vector<const auth::SecretVault*> parts;
  for (const auto& v : vaults) parts.push_back(v.get());
  auth::RenderSecretMetrics(*secrets, parts, out);
  audit->RenderMetrics(out);
}

}  // namespace rf::app

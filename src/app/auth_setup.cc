#include "app/daemon.h"
#include "auth/crypto.h"
#include "auth/jwt.h"
#include "obs/log.h"

namespace rf::app {
namespace {

std::string TrimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

int SetUpAuth(Daemon& d, store::StoreFactory& stores, std::vector<auth::Authenticator*>& shards) {
  auth::InitCrypto();
  std::string admin_key = d.config.admin_key;
  if (!d.config.admin_key_file.empty()) {
    auto text = ReadSmallFile(d.config.admin_key_file);
    if (!text) {
      RF_LOG(kError, "cannot read --admin-key-file", {"error", text.error().ToString()});
      return 2;
    }
    admin_key = TrimLine(std::move(*text));
  }
  if (!admin_key.empty() && !auth::ValidBootstrapToken(admin_key)) {
    RF_LOG(kError, "the admin key (--admin-key-file / RINGFLOW_ADMIN_KEY) must be 16..512 printable "
                   "characters without spaces");
    return 2;
  }
  auto jwt_keys = std::make_shared<auth::JwtKeys>();
  if (!d.config.jwt_secret_file.empty()) {
    auto text = ReadSmallFile(d.config.jwt_secret_file);
    if (!text) {
      RF_LOG(kError, "cannot read --jwt-secret-file", {"error", text.error().ToString()});
      return 2;
    }
    d.jwt_secret = TrimLine(std::move(*text));
    if (d.jwt_secret.size() < 32) {
      RF_LOG(kError, "--jwt-secret-file: an HS256 secret must be at least 32 bytes");
      return 2;
    }
    jwt_keys->hs256_secret = d.jwt_secret;
  }
  if (!d.config.jwks_file.empty()) {
    auto text = ReadSmallFile(d.config.jwks_file);
    auto parsed = text ? auth::ParseJwks(*text) : Result<std::vector<auth::JwtPublicKey>>(text.error());
    if (!parsed) {
      RF_LOG(kError, "cannot use --jwks-file", {"jwks_file", d.config.jwks_file},
             {"error", parsed.error().ToString()});
      return 2;
    }
    jwt_keys->public_keys = std::move(*parsed);
  }
  std::shared_ptr<const auth::JwtKeys> jwt_snapshot = std::move(jwt_keys);
  for (unsigned i = 0; i < d.config.shards; ++i) {
    d.authenticators.push_back(std::make_unique<auth::Authenticator>(
        auth::JwtPolicy{d.config.jwt_issuer, d.config.jwt_audience}, d.config.jwt_cache));
    d.authenticators.back()->SetJwtKeys(jwt_snapshot);  // before any shard runs
    shards.push_back(d.authenticators.back().get());
  }
  d.keys = std::make_unique<auth::KeyService>(stores.MakeKeyStore(), shards, admin_key);
  if (!d.config.auth) {
    if (AuthDefaultOn(d.config.listen_host)) {
      RF_LOG(kWarn, "authentication is OFF on a non-loopback address (--auth off): anyone who reaches "
                    "the port can register workflows, start runs and manage API keys",
             {"listen", d.config.listen});
    } else {
      RF_LOG(kWarn, "authentication is off (loopback listener): every local process can use the API; "
                    "--auth on to require API keys or JWTs", {"listen", d.config.listen});
    }
  } else {
    RF_LOG(kInfo, "authentication on", {"bootstrap_admin_key", admin_key.empty() ? "no" : "yes"},
           {"jwt_hs256", jwt_snapshot->hs256_secret.empty() ? "no" : "yes"},
           {"jwks_keys", jwt_snapshot->public_keys.size()},
           {"metrics_auth", d.config.metrics_auth ? "on" : "off"});
  }
  return 0;
}

}  // namespace rf::app

#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "app/daemon.h"
#include "auth/jwt.h"
#include "obs/log.h"
#include "quota/quota.h"
#include "reactor/io.h"
#include "reactor/offload.h"
#include "reactor/submit_to.h"

namespace rf::app {
namespace {

// SIGHUP: reads --jwks-file again and gives every shard the new key set (which empties their
// JWT caches). A file that cannot be read or parsed keeps the keys in use.
reactor::Task<void> ReloadJwks(Daemon* d) {
  if (d->config.jwks_file.empty()) {
    RF_LOG(kInfo, "SIGHUP: nothing to reload (no --jwks-file)");
    co_return;
  }
  auto read = reactor::Offload([path = d->config.jwks_file] { return ReadSmallFile(path); });
  auto text = co_await read;  // suspends
  Result<std::vector<auth::JwtPublicKey>> parsed =
      text ? auth::ParseJwks(*text) : Result<std::vector<auth::JwtPublicKey>>(text.error());
  if (!parsed) {
    RF_LOG(kError, "SIGHUP: cannot reload the JWKS; keeping the keys in use",
           {"jwks_file", d->config.jwks_file}, {"error", parsed.error().ToString()});
    co_return;
  }
  auto keys = std::make_shared<auth::JwtKeys>();
  keys->hs256_secret = d->jwt_secret;
  keys->public_keys = std::move(*parsed);
  const size_t count = keys->public_keys.size();
  std::shared_ptr<const auth::JwtKeys> snapshot = std::move(keys);
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    auto op = reactor::SubmitTo(
        i, [](auth::Authenticator* a, std::shared_ptr<const auth::JwtKeys> k) { a->SetJwtKeys(std::move(k)); },
        d->authenticators[i].get(), snapshot);
    co_await op;  // suspends
  }
  RF_LOG(kInfo, "SIGHUP: JWKS reloaded", {"jwks_file", d->config.jwks_file}, {"keys", count});
}

// SIGHUP: reads --quotas-file again and gives every shard the new limits. A file that cannot
// be read or parsed keeps the limits in force.
reactor::Task<void> ReloadQuotas(Daemon* d) {
  if (!d->quotas) co_return;
  auto read = reactor::Offload([path = d->config.quotas_file] { return ReadSmallFile(path); });
  auto text = co_await read;  // suspends
  Result<quota::Config> parsed = text ? quota::ParseConfig(*text) : Result<quota::Config>(text.error());
  if (!parsed) {
    RF_LOG(kError, "SIGHUP: cannot reload the quotas; keeping the limits in force",
           {"quotas_file", d->config.quotas_file}, {"error", parsed.error().ToString()});
    co_return;
  }
  if (auto egress = d->ns_egress->Build(*parsed); !egress) {
    RF_LOG(kError, "SIGHUP: cannot reload the quotas; keeping the limits in force",
           {"quotas_file", d->config.quotas_file}, {"error", egress.error().ToString()});
    co_return;
  }
  const size_t named = parsed->namespaces.size();
  d->engine->WantHistoryBytes(parsed->caps_history());
  auto snapshot = std::make_shared<const quota::Config>(std::move(*parsed));
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    auto table = d->ns_egress->Build(*snapshot);  // one per shard: no reference count is shared
    auto op = reactor::SubmitTo(
        i, [](Daemon* dd, unsigned shard, std::shared_ptr<const quota::Config> c, NamespaceEgress::Table t) {
          dd->quotas->SetConfig(shard, std::move(c));
          dd->ns_egress->Set(shard, std::move(t));
        },
        d, i, snapshot, std::move(*table));
    co_await op;  // suspends
  }
  RF_LOG(kInfo, "SIGHUP: quotas reloaded", {"quotas_file", d->config.quotas_file}, {"namespaces", named});
}

// SIGHUP: read --tls-cert/--tls-key again (on a helper thread: file reads) and serve new
// connections with them; open connections keep theirs. A bad file keeps the old certificate.
reactor::Task<void> ReloadTls(Daemon* d) {
  if (d->tls == nullptr) {
    RF_LOG(kInfo, "SIGHUP: no TLS certificate to reload");
    co_return;
  }
  for (tls::TlsContext* tls : {d->tls, d->internal_tls}) {
    if (tls == nullptr) continue;
    Status st = co_await reactor::Offload([tls] { return tls->Reload(); });  // suspends
    if (st) {
      RF_LOG(kInfo, "TLS certificate reloaded", {"cert", tls->cert_path()},
             {"port", tls == d->tls ? "listen" : "internal"});
    } else {
      RF_LOG(kError, "TLS reload failed; keeping the previous certificate",
             {"error", st.error().ToString()});
    }
  }
}

}  // namespace

reactor::Task<void> WatchSignals(Daemon* d) {
  signalfd_siginfo info;
  int seen = 0;
  while (true) {
    reactor::ReadOp op(d->signal_fd, {reinterpret_cast<char*>(&info), sizeof info});
    d->signal_read = &op;
    auto n = co_await op;  // suspends
    d->signal_read = nullptr;
    if (!n || *n != sizeof info) co_return;  // cancelled by Drain, or the fd failed
    if (info.ssi_signo == SIGHUP) {
      reactor::Spawn(ReloadJwks(d));
      reactor::Spawn(ReloadTls(d));
      reactor::Spawn(ReloadQuotas(d));
      continue;
    }
    if (++seen == 1) {
      RF_LOG(kInfo, "signal received, shutting down", {"signal", strsignal(static_cast<int>(info.ssi_signo))});
      d->state.draining.store(true, std::memory_order_release);
      reactor::Spawn(Drain(d));
    } else {
      RF_LOG(kWarn, "second signal: exiting now", {"signal", strsignal(static_cast<int>(info.ssi_signo))});
      _exit(128 + static_cast<int>(info.ssi_signo));
    }
  }
}

}  // namespace rf::app

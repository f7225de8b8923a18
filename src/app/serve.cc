#include "app/serve.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#if RF_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include <atomic>
#include <cstring>

#include "api/service.h"
#include "app/notify.h"
#include "http/server.h"
#include "obs/log.h"
#include "reactor/io.h"
#include "reactor/reactor.h"
#include "reactor/submit_to.h"

namespace rf::app {
namespace {

#if RF_HAVE_MIMALLOC
// Referencing mimalloc keeps it linked (--as-needed) so it replaces malloc.
const std::string kAllocator = "mimalloc " + std::to_string(mi_version());
#else
const std::string kAllocator = "libc";
#endif

struct Daemon {
  const Config& config;
  api::ServiceState state;
  reactor::Reactor* reactor = nullptr;
  http::Server* server = nullptr;
  int signal_fd = -1;
  std::atomic<unsigned> started{0};
  Notifier notifier;
};

// Pings systemd only after every shard answered: a wedged shard stops the pings.
reactor::Task<void> Watchdog(Daemon* d) {
  while (!d->state.draining.load(std::memory_order_acquire)) {
    co_await reactor::Sleep(d->notifier.watchdog_interval());  // suspends
    for (unsigned i = 0; i < d->reactor->size(); ++i) {
      co_await reactor::SubmitTo(i, [] {});  // suspends
    }
    d->notifier.Send("WATCHDOG=1");
  }
}

reactor::Task<void> Drain(Daemon* d) {
  d->notifier.Send("STOPPING=1\nSTATUS=draining");
  RF_LOG(kInfo, "draining", {"timeout_ms", d->config.drain_timeout / kMillis},
         {"open_connections", d->server->open_connections()});
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    co_await reactor::SubmitTo(i, [d] { d->server->BeginDrain(reactor::Shard::Current()); });
  }
  Deadline until = Deadline::After(d->config.drain_timeout);
  while (d->server->open_connections() > 0 && !until.Expired()) {
    co_await reactor::Sleep(10 * kMillis);  // suspends
  }
  if (d->server->open_connections() > 0) {
    RF_LOG(kWarn, "drain timeout: closing remaining connections",
           {"open_connections", d->server->open_connections()});
  }
  RF_LOG(kInfo, "stopped");
  d->reactor->Stop();
}

reactor::Task<void> WatchSignals(Daemon* d) {
  signalfd_siginfo info;
  int seen = 0;
  while (true) {
    reactor::ReadOp op(d->signal_fd, {reinterpret_cast<char*>(&info), sizeof info});
    auto n = co_await op;  // suspends
    if (!n || *n != sizeof info) co_return;
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

}  // namespace

int Serve(const Config& config) {
  // Signals go to the signalfd read on shard 0; every thread inherits the mask.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Daemon d{config, {}, nullptr, nullptr, -1, {}, {}};
  d.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (d.signal_fd < 0) {
    RF_LOG(kError, "signalfd failed", {"error", strerror(errno)});
    return 1;
  }

  api::Routes routes;
  api::AddOperationalRoutes(routes, &d.state);

  http::ServerOptions so;
  so.host = config.listen_host;
  so.port = config.listen_port;
  so.limits.max_body = config.max_body;
  so.max_connections = config.max_connections;
  so.header_timeout = config.header_timeout;
  so.idle_timeout = config.idle_timeout;
  so.max_pipeline = config.max_pipeline;
  so.access_log = config.access_log;
  http::Server server(so, config.shards, &routes.router, routes.names);
  if (auto st = server.Listen(); !st) {
    RF_LOG(kError, "cannot listen", {"listen", config.listen}, {"error", st.error().ToString()});
    return 1;
  }

  reactor::Reactor reactor({.cpus = config.cpus, .pin = config.pin});
  d.reactor = &reactor;
  d.server = &server;
  d.state.version = RF_VERSION;
  d.state.started_mono = MonoNow();
  d.state.started_unix = static_cast<double>(WallNow()) / 1e9;
  d.state.shards = config.shards;
  d.state.server = &server;
  d.state.reactor = &reactor;

  auto st = reactor.Run([&](reactor::Shard& shard) {
    RF_LOG(kInfo, "shard started", {"cpu", shard.cpu()}, {"pinned", config.pin ? "yes" : "no"},
           {"numa_node", shard.numa_node()},
           {"io_uring", shard.features().Describe()});
    server.Start(shard);
    if (shard.id() == 0) reactor::Spawn(WatchSignals(&d));
    if (d.started.fetch_add(1) + 1 == config.shards) {
      std::string where = config.listen_host + ":" + std::to_string(server.port());
      RF_LOG(kInfo, "serving", {"listen", where}, {"shards", config.shards}, {"version", RF_VERSION},
             {"allocator", kAllocator});
      d.notifier.Send("READY=1\nSTATUS=serving on " + where + " with " +
                      std::to_string(config.shards) + " shards");
      if (d.notifier.watchdog_interval() > 0) reactor::Spawn(Watchdog(&d));
    }
  });
  if (!st) {
    RF_LOG(kError, "reactor failed", {"error", st.error().ToString()});
    return 1;
  }
  ::close(d.signal_fd);
  return 0;
}

}  // namespace rf::app

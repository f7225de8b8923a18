#include "app/daemon.h"
#include "obs/log.h"
#include "reactor/io.h"
#include "reactor/submit_to.h"

namespace rf::app {
namespace {

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

// A part that cannot be loaded stops the start: logged, exit code 1, drained like a SIGTERM.
bool Failed(Daemon* d, const Status& st, const char* what) {
  if (st) return false;
  RF_LOG(kError, what, {"data_dir", d->config.data_dir}, {"error", st.error().ToString()});
  d->exit_code.store(1);
  d->state.draining.store(true, std::memory_order_release);
  reactor::Spawn(Drain(d));
  return true;
}

reactor::Task<void> OpenKeysInto(Daemon* d, Status* out) {
  *out = co_await d->keys->Open();  // suspends
}

}  // namespace

int64_t OpenConnections(const Daemon* d) {
  return d->server->open_connections() + (d->internal ? d->internal->open_connections() : 0);
}

reactor::Task<void> Drain(Daemon* d) {
  d->notifier.Send("STOPPING=1\nSTATUS=draining");
  // The singleton jobs go to a standby at its next round, not after the lease's TTL.
  if (d->leadership) co_await d->leadership->Close();  // suspends
  d->slo_stop = true;
  RF_LOG(kInfo, "draining", {"timeout_ms", d->config.drain_timeout / kMillis},
         {"open_connections", OpenConnections(d)});
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    co_await reactor::SubmitTo(i, [d] {
      d->server->BeginDrain(reactor::Shard::Current());
      if (d->internal) d->internal->BeginDrain(reactor::Shard::Current());
    });
  }
  Deadline until = Deadline::After(d->config.drain_timeout);
  while (OpenConnections(d) > 0 && !until.Expired()) {
    co_await reactor::Sleep(10 * kMillis);  // suspends
  }
  if (OpenConnections(d) > 0) {
    RF_LOG(kWarn, "drain timeout: closing remaining connections", {"open_connections", OpenConnections(d)});
  }
  co_await d->slo_sampler.Wait();  // suspends (at most one poll of the stop flag)
  co_await d->state.slo->Close();  // suspends; the last requests' counts are saved
  if (d->security) co_await d->security->Close();  // suspends; no request is served any more
  if (d->keys) co_await d->keys->Close();  // suspends
  if (d->bulk) co_await d->bulk->Close();  // suspends
  if (d->quotas) co_await d->quotas->Close();  // suspends; no request is served any more
  if (d->schedules) co_await d->schedules->Close();  // suspends
  co_await d->engine->Close();  // suspends
  co_await d->tracing->Stop(d->reactor->size());  // suspends; the engine records no more spans
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    auto op = reactor::SubmitTo(i, [](Daemon* dd, unsigned n) {
      dd->executors[n].reset();
      if (n < dd->forward_clients.size()) dd->forward_clients[n].reset();
    }, d, i);
    co_await op;  // suspends
  }
  for (unsigned i = 0; i < d->reactor->size(); ++i) {
    co_await reactor::SubmitTo(i, [](Daemon* dd) -> reactor::Task<void> {
      co_await dd->server->StopSweep(reactor::Shard::Current());  // suspends
      if (dd->internal) co_await dd->internal->StopSweep(reactor::Shard::Current());  // suspends
    }, d);  // suspends
  }
  if (d->signal_read) reactor::Shard::Current().Cancel(d->signal_read);
  co_await d->signal_watcher.Wait();  // suspends
  RF_LOG(kInfo, "stopped");
  d->reactor->Stop();
}

reactor::Task<void> OpenEngine(Daemon* d, std::string where) {
  // Opening talks to every shard: wait until all of them run their loops.
  while (d->started.load() < d->config.shards) co_await reactor::Sleep(kMillis);  // suspends
  Nanos t0 = MonoNow();
  // The API keys load beside the secrets and the engine (only requests need them, and none is
  // served before the schedules below are open); the engine waits for the secrets, which the
  // steps of the runs it resumes may name.
  Status keys;
  reactor::TaskGroup keys_loading;
  reactor::Spawn(OpenKeysInto(d, &keys), &keys_loading);
  Status secured = co_await d->security->Open();  // suspends
  Status st = Error{Errc::kUnavailable, "not opened"};
  if (secured) st = co_await d->engine->Open();  // suspends
  co_await keys_loading.Wait();  // suspends
  if (Failed(d, keys, "cannot load the API keys; not starting")) co_return;
  if (Failed(d, secured, "cannot load the secrets or open the audit log; not starting")) co_return;
  if (Failed(d, st, "cannot open the store; not starting")) co_return;
  if (d->schedules) {
    st = co_await d->schedules->Open();  // suspends
    if (Failed(d, st, "cannot load the schedules; not starting")) co_return;
  }
  if (d->leadership) d->leadership->Start();  // the stores are open: the database is reachable
  RF_LOG(kInfo, "engine ready",
         {"store", d->config.store == Store::kPostgres ? "postgres" : "embedded"},
         {"data_dir", d->config.data_dir},
         {"fsync", d->config.fsync ? "always" : "never"}, {"ms", (MonoNow() - t0) / kMillis});
  d->notifier.Send("READY=1\nSTATUS=serving on " + where + " with " +
                   std::to_string(d->config.shards) + " shards");
  if (d->notifier.watchdog_interval() > 0) reactor::Spawn(Watchdog(d));
}

}  // namespace rf::app

#include "reactor/reactor.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "base/check.h"
#include "obs/log.h"

namespace rf::reactor {
namespace {

// Read during static initialisation, on the main thread, before any shard pins itself.
const cpu_set_t g_process_cpus = [] {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) CPU_ZERO(&set);
  return set;
}();

}  // namespace

Reactor::Reactor(ReactorOptions options) : pin_(options.pin) {
  size_t n = options.cpus.size();
  RF_CHECK(n > 0);
  for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(*this, i, options.cpus[i]));
  for (size_t i = 0; i < n * n; ++i) mail_.push_back(std::make_unique<Mailbox>(options.mailbox_capacity));
}

Reactor::~Reactor() = default;

Status Reactor::Run(const std::function<void(Shard&)>& on_start) {
  std::vector<std::thread> threads;
  std::mutex mu;
  Status first_error;
  for (auto& s : shards_) {
    threads.emplace_back([&, shard = s.get()] {
      if (auto st = shard->Init(); !st) {
        std::lock_guard lock(mu);
        if (first_error) first_error = st;
        Stop();
        return;
      }
      on_start(*shard);
      shard->Loop();
    });
  }
  for (auto& t : threads) t.join();
  return first_error;
}

void Reactor::Stop() {
  for (auto& s : shards_) s->RequestStop();
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {0};
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

void UnpinHelperThread() {
  if (CPU_COUNT(&g_process_cpus) == 0) return;
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof g_process_cpus, &g_process_cpus);
  if (rc != 0) RF_LOG(kWarn, "cannot unpin a helper thread", {"error", strerror(rc)});
}

void NameThread(const char* name) {
  // Longer names are refused (ERANGE), not cut: cut them here.
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s", name);
  pthread_setname_np(pthread_self(), buf);
}

Result<std::vector<int>> ParseCpuList(std::string_view s) {
  std::vector<int> out;
  auto bad = [&](std::string_view part) {
    return Error{Errc::kInvalidArgument, "bad CPU list element '" + std::string(part) + "'"};
  };
  while (!s.empty()) {
    size_t comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    size_t dash = part.find('-');
    int lo = 0, hi = 0;
    auto parse = [](std::string_view v, int& x) {
      auto r = std::from_chars(v.data(), v.data() + v.size(), x);
      return !v.empty() && r.ec == std::errc{} && r.ptr == v.data() + v.size() && x >= 0 &&
             x < CPU_SETSIZE;
    };
    if (dash == std::string_view::npos) {
      if (!parse(part, lo)) return bad(part);
      hi = lo;
    } else if (!parse(part.substr(0, dash), lo) || !parse(part.substr(dash + 1), hi) || hi < lo) {
      return bad(part);
    }
    for (int c = lo; c <= hi; ++c) out.push_back(c);
  }
  if (out.empty()) return Error{Errc::kInvalidArgument, "empty CPU list"};
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace rf::reactor

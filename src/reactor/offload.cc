#include "reactor/offload.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "reactor/reactor.h"

namespace rf::reactor {
namespace {

constexpr size_t kHelpers = 2;

struct Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  std::vector<std::thread> threads;
  bool stop = false;

  ~Pool() {  // process exit: helpers must not outlive the pool
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
  }

  void Work() {
    UnpinHelperThread();
    NameThread("rf-offload");
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job();
    }
  }
};

Pool& GetPool() {
  static Pool pool;
  return pool;
}

}  // namespace

void detail::OffloadSubmit(std::function<void()> job) {
  Pool& p = GetPool();
  std::lock_guard lock(p.mu);
  if (p.threads.empty() && !p.stop) {
    for (size_t i = 0; i < kHelpers; ++i) p.threads.emplace_back([&p] { p.Work(); });
  }
  p.jobs.push_back(std::move(job));
  p.cv.notify_one();
}

void StopOffloadPool() {
  Pool& p = GetPool();
  {
    std::lock_guard lock(p.mu);
    p.stop = true;
  }
  p.cv.notify_all();
  for (auto& t : p.threads) t.join();
  p.threads.clear();
}

}  // namespace rf::reactor

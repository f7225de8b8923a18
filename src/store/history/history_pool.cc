#include "store/history/history_pool.h"

#include "reactor/reactor.h"

namespace rf::store::history {

HistoryPool::HistoryPool(size_t lookup_threads, size_t bulk_threads, size_t lookup_capacity,
                         size_t bulk_capacity)
    : capacity_{lookup_capacity, bulk_capacity} {
  for (size_t i = 0; i < lookup_threads; ++i) threads_.emplace_back([this] { Work(0); });
  for (size_t i = 0; i < bulk_threads; ++i) threads_.emplace_back([this] { Work(1); });
}

HistoryPool::~HistoryPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_[0].notify_all();
  cv_[1].notify_all();
  for (auto& t : threads_) t.join();
}

bool HistoryPool::Submit(Lane lane, std::function<void()> job) {
  const size_t i = lane == Lane::kLookup ? 0 : 1;
  {
    std::lock_guard lock(mu_);
    if (stop_ || jobs_[i].size() >= capacity_[i]) {
      stats_.rejected.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    jobs_[i].push_back(std::move(job));
    stats_.queued.fetch_add(1, std::memory_order_relaxed);
  }
  cv_[i].notify_one();
  return true;
}

void HistoryPool::Work(size_t lane) {
  reactor::UnpinHelperThread();
  reactor::NameThread(lane == 0 ? "rf-hist-lookup" : "rf-hist-bulk");
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_[lane].wait(lock, [&] { return stop_ || !jobs_[lane].empty(); });
      auto& q = jobs_[lane];
      if (q.empty()) return;  // stopping, nothing left
      job = std::move(q.front());
      q.pop_front();
      stats_.queued.fetch_sub(1, std::memory_order_relaxed);
    }
    job();
  }
}

}  // namespace rf::store::history

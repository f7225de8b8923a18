#include "reactor/shard.h"

#include <numa.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/check.h"
#include "obs/log.h"
#include "reactor/reactor.h"

namespace rf::reactor {
namespace {

thread_local Shard* t_current = nullptr;
constexpr uint64_t kWakeTag = 1;
constexpr unsigned kRingEntries = 4096;
constexpr unsigned kCqEntries = 65536;

}  // namespace

std::string RingFeatures::Describe() const {
  std::string s = single_issuer ? "single_issuer+defer_taskrun" : coop_taskrun ? "coop_taskrun" : "basic";
  if (msg_ring) s += ",msg_ring";
  if (multishot_accept) s += ",multishot_accept";
  return s;
}

Shard::Shard(Reactor& reactor, unsigned id, int cpu) : reactor_(reactor), id_(id), cpu_(cpu) {
  ready_.reserve(1024);
  running_.reserve(1024);
}

Shard::~Shard() {
  if (ring_ok_) io_uring_queue_exit(&ring_);
  if (event_fd_ >= 0) ::close(event_fd_);
}

Shard& Shard::Current() {
  RF_CHECK(t_current != nullptr);
  return *t_current;
}

Shard* Shard::CurrentOrNull() { return t_current; }

Status Shard::Init() {
  t_current = this;
  obs::SetThreadShard(static_cast<int>(id_));
  NameThread(("rf-shard-" + std::to_string(id_)).c_str());
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu_, &set);
  if (!reactor_.pin()) {
    // Unpinned: the scheduler places the thread; the CPU is still its NUMA hint.
  } else if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0) {
    RF_LOG(kWarn, "cannot pin shard", {"cpu", cpu_}, {"error", strerror(rc)});
  }
  if (numa_available() >= 0) numa_node_ = numa_node_of_cpu(cpu_);

  // The ring must be created on its own thread: SINGLE_ISSUER binds it to the creator.
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = kCqEntries;
  int rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
  if (rc == -EINVAL) {
    p = {};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
    p.cq_entries = kCqEntries;
    rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
    if (rc == 0) features_.coop_taskrun = true;
  } else if (rc == 0) {
    features_.single_issuer = true;
  }
  if (rc == -EINVAL) {
    p = {};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = kCqEntries;
    rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
  }
  if (rc < 0) return Error::FromErrno(-rc, "io_uring_queue_init");
  ring_ok_ = true;
  if (reactor_.pin()) {
    // io-wq workers (fdatasync, buffered writes) inherit this thread's one-CPU
    // affinity and then queue behind the shard on its own CPU: a commit's fsync
    // waited 10-25 ms now and then under load. Let them run on any shard's CPU.
    cpu_set_t workers;
    CPU_ZERO(&workers);
    for (size_t i = 0; i < reactor_.size(); ++i) CPU_SET(reactor_.shard(static_cast<unsigned>(i)).cpu(), &workers);
    if (int err = io_uring_register_iowq_aff(&ring_, sizeof workers, &workers); err < 0)
      RF_LOG(kDebug, "io-wq affinity not set", {"error", strerror(-err)});
  }
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
    features_.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
    io_uring_free_probe(probe);
  }
  // Multishot accept arrived in 5.19 together with COOP_TASKRUN.
  features_.multishot_accept = features_.single_issuer || features_.coop_taskrun;

  event_fd_ = eventfd(0, EFD_CLOEXEC);
  if (event_fd_ < 0) return Error::FromErrno(errno, "eventfd");
  wake_read_.on_complete = [](Completion* c, int32_t, uint32_t) {
    Shard& s = Shard::Current();
    RF_CHECK(c == &s.wake_read_);
    if (!s.stopping()) s.ArmWakeRead();
  };
  ArmWakeRead();
  return {};
}

void Shard::ArmWakeRead() {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, event_fd_, &event_buf_, sizeof event_buf_, 0);
  io_uring_sqe_set_data(sqe, &wake_read_);
}

io_uring_sqe* Shard::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Shard::Cancel(Completion* op) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data(sqe, nullptr);
}

void Shard::RequestStop() {
  stop_.store(true, std::memory_order_relaxed);
  Wake();
}

void Shard::Wake() {
  uint64_t one = 1;
  ssize_t w = ::write(event_fd_, &one, sizeof one);
  (void)w;
}

void Shard::Arm(TimerNode* t, Nanos when) {
  if (t->armed) timers_.erase(t->pos);
  t->pos = timers_.emplace(when, t);
  t->armed = true;
}

void Shard::Disarm(TimerNode* t) {
  if (!t->armed) return;
  timers_.erase(t->pos);
  t->armed = false;
}

void Shard::FireTimers(Nanos now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    TimerNode* t = timers_.begin()->second;
    timers_.erase(timers_.begin());
    t->armed = false;
    t->fire(t);
  }
}

void Shard::Post(unsigned to, Message m) {
  if (!overflow_.empty()) {  // keep order behind earlier overflowed messages
    overflow_.emplace_back(to, m);
    return;
  }
  bool was_empty = false;
  if (!reactor_.mailbox(id_, to).Push(m, was_empty)) {
    stats_.mailbox_full.Add();
    overflow_.emplace_back(to, m);
    return;
  }
  if (!was_empty) return;
  Shard& dest = reactor_.shard(to);
  if (features_.msg_ring) {
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_msg_ring(sqe, dest.ring_.ring_fd, 0, kWakeTag, 0);
    io_uring_sqe_set_data(sqe, nullptr);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  } else {
    dest.Wake();
  }
}

void Shard::FlushOverflow() {
  if (overflow_.empty()) return;
  std::vector<std::pair<unsigned, Message>> pending;
  pending.swap(overflow_);
  size_t i = 0;
  for (; i < pending.size(); ++i) {
    bool was_empty = false;
    if (!reactor_.mailbox(id_, pending[i].first).Push(pending[i].second, was_empty)) break;
    reactor_.shard(pending[i].first).Wake();
  }
  overflow_.assign(pending.begin() + static_cast<long>(i), pending.end());
}

void Shard::PostForeign(Message m) {
  {
    std::lock_guard lock(foreign_mu_);
    foreign_.push_back(m);
  }
  Wake();
}

void Shard::DrainMail() {
  size_t depth = 0;
  for (unsigned from = 0; from < reactor_.size(); ++from) {
    Mailbox& box = reactor_.mailbox(from, id_);
    depth += box.Depth();
    Message m;
    while (box.Pop(m)) m.fn(m.arg);
  }
  stats_.mailbox_depth.Set(static_cast<int64_t>(depth));
  {
    std::lock_guard lock(foreign_mu_);
    foreign_swap_.swap(foreign_);
  }
  for (Message& m : foreign_swap_) m.fn(m.arg);
  foreign_swap_.clear();
}

void Shard::RunReady() {
  running_.swap(ready_);
  for (auto h : running_) h.resume();
  running_.clear();
}

void Shard::Reap(io_uring_cqe* cqe) {
  stats_.completions.Add();
  uint64_t ud = cqe->user_data;
  if (ud == 0 || ud == kWakeTag) return;
  auto* c = reinterpret_cast<Completion*>(ud);
  c->on_complete(c, cqe->res, cqe->flags);
}

void Shard::Loop() {
  Nanos woke = MonoNow();
  while (true) {
    stats_.loop_iterations.Add();
    FireTimers(MonoNow());
    DrainMail();
    FlushOverflow();
    RunReady();
    if (stop_.load(std::memory_order_relaxed) && ready_.empty()) break;

    stats_.turn.ObserveNanos(MonoNow() - woke);
    int rc;
    if (!ready_.empty()) {
      rc = io_uring_submit_and_get_events(&ring_);
    } else if (timers_.empty() && overflow_.empty()) {
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    } else {
      // Held-back messages: nobody wakes us when the peer frees mailbox room, so poll soon.
      constexpr Nanos kOverflowRetry = 50'000;
      Nanos wait = timers_.empty() ? kOverflowRetry
                                   : std::max<Nanos>(timers_.begin()->first - MonoNow(), 0);
      if (!overflow_.empty()) wait = std::min(wait, kOverflowRetry);
      __kernel_timespec ts{wait / kSeconds, wait % kSeconds};
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    woke = MonoNow();
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      RF_LOG(kError, "io_uring_enter failed", {"error", strerror(-rc)});
    }
    unsigned head;
    unsigned n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      Reap(cqe);
      ++n;
    }
    io_uring_cq_advance(&ring_, n);
  }
}

Sleep::~Sleep() {
  if (shard_) shard_->Disarm(&node_);
}

void Sleep::await_suspend(std::coroutine_handle<> h) {
  shard_ = &Shard::Current();
  node_.waiter = h;
  node_.fire = &Sleep::Fire;
  shard_->Arm(&node_, when_);
}

void Sleep::Fire(Shard::TimerNode* n) {
  Shard::Current().Schedule(static_cast<Node*>(n)->waiter);
}

void TaskGroup::Leave() {
  if (--active_ == 0 && waiter_) Shard::Current().Schedule(std::exchange(waiter_, {}));
}

namespace {

struct DetachedPromise;
struct Detached {
  using promise_type = DetachedPromise;
};
struct DetachedPromise {
  Detached get_return_object() noexcept { return {}; }
  std::suspend_never initial_suspend() noexcept { return {}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { std::terminate(); }
};

struct ScheduleOnce {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { Shard::Current().Schedule(h); }
  void await_resume() noexcept {}
};

Detached RunDetached(Task<void> task, TaskGroup* group) {
  co_await ScheduleOnce{};
  co_await std::move(task);
  if (group) group->Leave();
}

}  // namespace

void Spawn(Task<void> task, TaskGroup* group) {
  if (group) group->Enter();
  RunDetached(std::move(task), group);
}

}  // namespace rf::reactor

#include "store/leadership.h"

#include <algorithm>

#include "obs/log.h"
#include "obs/metrics.h"
#include "reactor/shard.h"
#include "reactor/sleep_unless.h"

namespace rf::store {

Leadership::Leadership(LeadershipOptions options, LeaderElection* authority,
                       LeaderElection* arbiter)
    : options_(std::move(options)), authority_(authority), arbiter_(arbiter) {
  jobs_[0].name = kJobHistoryRetention;
  jobs_[1].name = kJobAuditRetention;
}

Leadership::~Leadership() = default;

const Leadership::Job* Leadership::Find(std::string_view name) const {
  for (const Job& j : jobs_)
    if (j.name == name) return &j;
  return nullptr;
}

bool Leadership::Leads(std::string_view job) const {
  if (authority_ == nullptr) return true;
  const Job* j = Find(job);
  return j != nullptr && j->term.load(std::memory_order_acquire) > 0;
}

int64_t Leadership::Term(std::string_view job) const {
  const Job* j = Find(job);
  return j == nullptr ? 0 : j->term.load(std::memory_order_acquire);
}

void Leadership::CountRun(std::string_view job) {
  if (const Job* j = Find(job)) const_cast<Job*>(j)->runs.fetch_add(1, std::memory_order_relaxed);
}

void Leadership::Start() {
  // Closed already: a stop signal came while the engine was still opening.
  if (authority_ == nullptr || started_ || closed_) return;
  started_ = true;
  authority_->Start();
  if (arbiter_) arbiter_->Start();
  reactor::Spawn(Loop(this), &loop_);
}

reactor::Task<void> Leadership::Loop(Leadership* self) {
  while (!self->stopping_) {
    for (Job& j : self->jobs_) {
      if (self->stopping_) break;
      co_await self->Tend(j);  // suspends
    }
    // In steps no longer than a round, so a short --leader-renew is kept to.
    const Nanos step = std::min<Nanos>(self->options_.renew, 100 * kMillis);
    co_await reactor::SleepUnless(self->options_.renew, self->stopping_, step);  // suspends
  }
}

void Leadership::Lead(Job& job, int64_t term, bool via_arbiter) {
  job.via_arbiter = via_arbiter;
  job.renewed = MonoNow();
  job.known = std::max(job.known, term);
  job.term.store(term, std::memory_order_release);
  job.changes.fetch_add(1, std::memory_order_relaxed);
  RF_LOG(kInfo, "leading a singleton job", {"job", job.name}, {"term", term},
         {"via", via_arbiter ? arbiter_->backend() : authority_->backend()});
}

void Leadership::NoteArbiter(const Status& outcome, const Job& job) {
  const bool was_up = arbiter_up_.exchange(outcome.has_value(), std::memory_order_relaxed);
  if (was_up && !outcome) {
    RF_LOG(kWarn, "leader election falls back to the database (Redis unreachable)",
           {"job", job.name}, {"error", outcome.error().ToString()});
  } else if (!was_up && outcome) {
    RF_LOG(kInfo, "leader election goes through Redis again", {"job", job.name});
  }
}

void Leadership::StepDown(Job& job, std::string_view why) {
  const int64_t term = job.term.exchange(0, std::memory_order_acq_rel);
  if (term == 0) return;
  job.changes.fetch_add(1, std::memory_order_relaxed);
  RF_LOG(kWarn, "no longer leading a singleton job", {"job", job.name}, {"term", term},
         {"why", why});
}

reactor::Task<void> Leadership::Tend(Job& job) {
  const int64_t term = job.term.load(std::memory_order_acquire);
  if (term == 0) {
    co_await Contend(job);  // suspends
    co_return;
  }
  const std::string name(job.name);
  auto renewed = co_await authority_->Renew(name, term, options_.ttl);  // suspends
  if (renewed && *renewed) {
    job.renewed = MonoNow();
    if (arbiter_) {
      // The arbiter's lease only keeps other contenders out of the database: the authority's
      // lease, renewed above, is what leadership rests on, so a failure here changes nothing.
      // A leader elected in the database while Redis was away takes the Redis lease here once
      // Redis is back (Renew sets a missing key), so the others stop contending in the database.
      auto r = co_await arbiter_->Renew(name, term, options_.ttl);  // suspends
      NoteArbiter(r ? Status{} : Status(r.error()), job);
      if (r && *r) job.via_arbiter = true;
    }
    co_return;
  }
  if (renewed) {
    StepDown(job, "another daemon holds the lease");
  } else if (MonoNow() - job.renewed >= options_.ttl - options_.renew) {
    // Before the database's clock can hand the lease to another daemon.
    StepDown(job, "the lease could not be renewed: " + renewed.error().ToString());
  }
}

reactor::Task<void> Leadership::Contend(Job& job) {
  const std::string name(job.name);
  if (arbiter_) {
    auto claim = co_await arbiter_->Acquire(name, job.known, options_.ttl);  // suspends
    NoteArbiter(claim ? Status{} : Status(claim.error()), job);
    if (claim) {
      if (!claim->won) co_return;  // another daemon holds the arbiter's lease
      auto taken = co_await authority_->Acquire(name, claim->term, options_.ttl);  // suspends
      if (taken && taken->won) {
        Lead(job, taken->term, true);
        co_return;
      }
      if (taken) job.known = std::max(job.known, taken->term);
      // Not ours after all (a leader elected in the database while the arbiter was away still
      // holds it, or the arbiter's counter fell behind): let the others try.
      auto released = co_await arbiter_->Release(name, claim->term);  // suspends
      (void)released;
      co_return;
    }
  }
  auto taken = co_await authority_->Acquire(name, 0, options_.ttl);  // suspends
  if (!taken) co_return;  // the database is away: nobody can lead (nor write)
  if (taken->won) {
    Lead(job, taken->term, false);
  } else {
    job.known = std::max(job.known, taken->term);
  }
}

reactor::Task<void> Leadership::Close() {
  if (closed_) co_return;
  closed_ = true;
  stopping_ = true;
  co_await loop_.Wait();  // suspends: at most one round under way
  if (authority_ == nullptr || !started_) co_return;
  for (Job& j : jobs_) {
    const int64_t term = j.term.exchange(0, std::memory_order_acq_rel);
    if (term == 0) continue;
    const std::string name(j.name);
    if (j.via_arbiter && arbiter_) {
      auto r = co_await arbiter_->Release(name, term);  // suspends
      (void)r;
    }
    auto st = co_await authority_->Release(name, term);  // suspends
    j.changes.fetch_add(1, std::memory_order_relaxed);
    RF_LOG(kInfo, "singleton job handed over", {"job", j.name}, {"term", term},
           {"released", st ? "yes" : st.error().ToString()});
  }
  if (arbiter_) co_await arbiter_->Close();  // suspends
  co_await authority_->Close();              // suspends
}

void Leadership::RenderMetrics(std::string& out) const {
  obs::TextExposition x(out);
  // Not `job`: Prometheus sets that label on every scraped series itself (and would rename ours).
  auto label = [](const Job& j) { return "task=\"" + std::string(j.name) + "\""; };
  x.Family("rf_leader", "gauge", "1 while this daemon leads the singleton job.");
  for (const Job& j : jobs_) x.Sample("rf_leader", label(j), Leads(j.name) ? 1 : 0);
  x.Family("rf_leader_term", "gauge",
           "The fencing term this daemon leads the job at (0: not leading).");
  for (const Job& j : jobs_)
    x.Sample("rf_leader_term", label(j),
             static_cast<double>(j.term.load(std::memory_order_relaxed)));
  x.Family("rf_leader_changes_total", "counter",
           "Times this daemon became or stopped being the job's leader.");
  for (const Job& j : jobs_)
    x.SampleU("rf_leader_changes_total", label(j), j.changes.load(std::memory_order_relaxed));
  x.Family("rf_singleton_runs_total", "counter",
           "Passes of the singleton job this daemon made as its leader.");
  for (const Job& j : jobs_)
    x.SampleU("rf_singleton_runs_total", label(j), j.runs.load(std::memory_order_relaxed));
  if (arbiter_) {
    x.Family("rf_leader_arbiter_up", "gauge",
             "1 while leader election goes through Redis; 0: on PostgreSQL alone (Redis away).");
    x.Sample("rf_leader_arbiter_up", "", arbiter_up() ? 1 : 0);
  }
}

}  // namespace rf::store

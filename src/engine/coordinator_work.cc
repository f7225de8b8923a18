// Workers and timers: steps whose start is durable wait in per-priority
// queues and are taken critical:default:low = 6:3:1; http steps are bounded
// by a per-shard concurrency limit, noop and transform run inline (they
// compute, they do not wait).

#include <algorithm>
#include <cctype>

#include "base/tenancy.h"
#include "engine/coordinator.h"
#include "engine/run_trace.h"
#include "engine/secret_scope.h"
#include "json/redact.h"
#include "json/writer.h"

namespace rf::engine {
namespace {

constexpr int kWeights[3] = {6, 3, 1};
constexpr size_t kPumpBudget = 4096;  // steps per call before yielding to the loop

bool HasHeader(const std::vector<std::pair<std::string, std::string>>& headers,
               std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) {
    return h.first.size() == name.size() &&
           std::equal(h.first.begin(), h.first.end(), name.begin(),
                      [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  });
}

// The rf_steps_total outcome of an attempt that returned an output: the machine fails one that
// is over the limits (json/value_limits.h).
size_t Outcome(StepStatus after) {
  return after == StepStatus::kRetrying ? 2 : after == StepStatus::kFailed ? 1 : 0;
}

}  // namespace

double Coordinator::NextUnit() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<double>(rng_ >> 11) * 0x1.0p-53;
}

void Coordinator::Enqueue(Entry& e, uint32_t step) {
  const Step& s = e.run.def->steps[step];
  auto p = static_cast<size_t>(e.run.priority);
  queues_[p][s.type == StepType::kHttp ? 1 : 0].push_back(
      WorkItem{&e, step, static_cast<uint32_t>(e.run.steps[step].attempts.size()), MonoNow()});
  stats_->queue_depth[p].Add(1);
  ++e.pending;
}

void Coordinator::SchedulePump() {
  if (pump_scheduled_) return;
  pump_scheduled_ = true;
  reactor::Spawn(PumpLater(this), &tasks_);
}

reactor::Task<void> Coordinator::PumpLater(Coordinator* self) {
  self->pump_scheduled_ = false;
  self->PumpNow();
  co_return;
}

std::deque<Coordinator::WorkItem>* Coordinator::Pick(size_t p) {
  auto& inline_q = queues_[p][0];
  auto& http_q = queues_[p][1];
  const bool http_ok = !http_q.empty() && http_in_flight_ < options_.http_concurrency;
  if (!inline_q.empty() && (!http_ok || inline_q.front().ready_at <= http_q.front().ready_at))
    return &inline_q;
  return http_ok ? &http_q : nullptr;
}

// Weighted round robin: in each round priority p may start up to kWeights[p]
// steps. A priority with nothing queued forfeits the rest of its round; one
// held back by the http limit keeps its credits for when a slot frees, so the
// 6:3:1 shares hold among queued http steps too. A new round starts when no
// credit can be used but some priority has runnable work.
void Coordinator::PumpNow() {
  size_t budget = kPumpBudget;
  while (budget > 0) {
    bool progress = false;
    bool starved = false;
    for (size_t p = 0; p < 3; ++p) {
      while (credits_[p] > 0 && budget > 0) {
        std::deque<WorkItem>* q = Pick(p);
        if (!q) {
          if (queues_[p][0].empty() && queues_[p][1].empty()) credits_[p] = 0;
          break;
        }
        WorkItem w = q->front();
        q->pop_front();
        stats_->queue_depth[p].Add(-1);
        --credits_[p];
        --budget;
        progress = true;
        Execute(w);
      }
      starved = starved || (credits_[p] == 0 && Pick(p) != nullptr);
    }
    if (!progress) {
      if (!starved) return;
      for (size_t p = 0; p < 3; ++p) credits_[p] = kWeights[p];
    }
  }
  SchedulePump();  // budget spent with work left: continue on the next turn
}

void Coordinator::Execute(const WorkItem& w) {
  Entry& e = *w.entry;
  --e.pending;
  if (w.item != kNoItem) {
    ExecuteItem(w);
    return;
  }
  const StepState& st = e.run.steps[w.step];
  const bool child_wait =  // a workflow step resumed after a restart waits for its child
      st.status == StepStatus::kWaiting && e.run.def->steps[w.step].type == StepType::kWorkflow;
  if (IsTerminal(e.run.status) || (st.status != StepStatus::kRunning && !child_wait) ||
      st.attempts.size() != w.attempt || Releasing(e)) {
    // Superseded while queued (cancelled, timed out), or handed over: the next holder retries
    // it as interrupted. A step permit it was granted goes to the next waiter.
    ReleasePermit(w.permit);
    return;
  }
  const Nanos now = MonoNow();
  stats_->hop.ObserveNanos(now - w.ready_at);
  const Step& s = e.run.def->steps[w.step];
  switch (s.type) {
    case StepType::kNoop:
    case StepType::kTransform:
      RunPure(e, w.step, w.attempt, now);
      return;
    case StepType::kHttp: {
      if (closing_) return;  // its start is durable: after the restart it is retried as interrupted
      if (s.permits && w.permit == 0) {  // its key's permit first (coordinator_permits.cc)
        AskPermit(w, s);
        return;
      }
      auto call = RenderHttp(e, w.step, w.attempt);
      if (!call) {  // a secret it names is missing: retrying cannot bring it
        ReleasePermit(w.permit);
        FailHttp(e, w.step, w.attempt, call.error().ToString(), false);
        return;
      }
      BreakerTicket ticket;
      WorkItem unheld = w;  // a step delayed by its breaker asks for a permit again when it wakes
      unheld.permit = 0;
      if (PassBreaker(unheld, s, call->url, ticket) != Gate::kPass) {
        ReleasePermit(w.permit);
        return;
      }
      ++http_in_flight_;
      ++e.pending;
      reactor::Spawn(
          RunHttp(this, &e, w.step, w.attempt, std::move(*call), std::move(ticket), w.permit),
          &tasks_);
      return;
    }
    case StepType::kWorkflow:
      if (closing_) return;  // after the restart the same attempt starts (or finds) its child
      ++e.pending;
      reactor::Spawn(RunChild(this, &e, w.step, w.attempt), &tasks_);
      return;
    default:
      return;  // delay and approval never reach the queues: they wait on timers and signals
  }
}

void Coordinator::RunPure(Entry& e, uint32_t step, uint32_t attempt, Nanos started) {
  const Step& s = e.run.def->steps[step];
  Mutate(e, [&](Machine& m) {
    json::Value out;
    if (s.type == StepType::kNoop) {
      out = m.StepInput(step);
    } else {
      RunStepResults results(e.run);
      json::Context ctx{&e.run.input, &results, e.run.id_text, e.run.def->name};
      out = s.output->Evaluate(ctx);
    }
    m.StepSucceeded(step, attempt, std::move(out));
    return 0;
  });
  auto type = static_cast<size_t>(s.type);
  stats_->steps[type][Outcome(e.run.steps[step].status)].Add();
  stats_->step_duration[type].ObserveNanos(MonoNow() - started);
}

Result<HttpCall> Coordinator::RenderHttp(const Entry& e, uint32_t step, uint32_t attempt,
                                         uint32_t item) const {
  const Step& s = e.run.def->steps[step];
  const bool is_item = item != kNoItem;
  const HttpRequestSpec& spec = is_item ? *s.map->request : *s.request;
  const json::Value* input = is_item ? LiveItem(e, step, attempt, item) : &e.run.input;
  RunStepResults results(e.run);
  const std::string& id = e.run.id_text;
  const std::string_view ns = SplitQualified(e.run.def->name).ns;
  SecretScope secrets(*http_, ns);
  json::Context ctx{input, &results, id, e.run.def->name, &secrets};
  HttpCall call;
  call.ns = std::string(ns);
  call.method = HttpMethodName(spec.method);
  call.url = spec.url.EvaluateString(ctx);
  for (const HttpHeader& h : spec.headers) call.headers.emplace_back(h.name, h.value.EvaluateString(ctx));
  if (!HasHeader(call.headers, "Idempotency-Key")) {
    call.headers.emplace_back("Idempotency-Key", is_item ? id + "/" + s.id + "/" + std::to_string(item)
                                                         : id + "/" + s.id);
  }
  if (!HasHeader(call.headers, "traceparent")) {  // a definition's own traceparent wins
    char tp[trace::kTraceparentSize];
    AttemptTraceparent(e.run, step, attempt, tracer_, tp);
    call.headers.emplace_back("traceparent", std::string(tp, sizeof tp));
  }
  if (spec.body) {
    json::Value body = spec.body->Evaluate(ctx);
    call.body = json::ToString(body);
    call.has_body = true;
    if (!HasHeader(call.headers, "Content-Type")) call.headers.emplace_back("Content-Type", "application/json");
  }
  call.connect_timeout = spec.connect_timeout;
  const Nanos timeout = is_item ? s.map->timeout : s.timeout;
  call.timeout = timeout ? timeout : options_.http_timeout;
  if (secrets.error()) return *secrets.error();
  call.secrets = secrets.TakeValues();
  return call;
}

void Coordinator::FailHttp(Entry& e, uint32_t step, uint32_t attempt, std::string error, bool retryable) {
  double u = NextUnit();
  Mutate(e, [&](Machine& m) {
    m.StepFailed(step, attempt, error, retryable, u);
    return 0;
  });
  const bool retrying = e.run.steps[step].status == StepStatus::kRetrying;
  stats_->steps[static_cast<size_t>(StepType::kHttp)][retrying ? 2 : 1].Add();
}

reactor::Task<HttpResult> Coordinator::CallTracked(Coordinator* self, Entry* e, uint32_t step,
                                                   uint32_t attempt, HttpCall call, bool& cancelled) {
  reactor::CancelToken cancel;
  e->in_flight.push_back(Entry::InFlight{step, attempt, &cancel});
  if (self->closing_) cancel.Fire();  // Close() fired the tokens before this task began
  const Nanos t0 = MonoNow();
  std::vector<std::string> secrets = std::move(call.secrets);
  HttpResult r = co_await self->http_->Call(std::move(call), &cancel);  // suspends
  if (!secrets.empty()) {  // an answer (or an error quoting the URL) may echo what was sent
    json::RedactValue(r.body, secrets);
    json::RedactText(r.error.context, secrets);
    WipeSecrets(secrets);
  }
  std::erase_if(e->in_flight, [&](const Entry::InFlight& f) { return f.cancel == &cancel; });
  --self->http_in_flight_;
  --e->pending;
  self->stats_->step_duration[static_cast<size_t>(StepType::kHttp)].ObserveNanos(MonoNow() - t0);
  cancelled = cancel.fired();
  co_return r;
}

bool Coordinator::RetryableHttp(const HttpResult& r, const RetryPolicy& policy) {
  if (r.error.code == Errc::kOk) return r.status >= 500 || policy.RetriesStatus(r.status);
  // A URL that renders wrong stays wrong; an address the egress policy denies stays denied
  // until the operator changes the policy, which a retry cannot wait for.
  return r.error.code != Errc::kInvalidArgument && r.error.code != Errc::kEgressDenied;
}

reactor::Task<void> Coordinator::RunHttp(Coordinator* self, Entry* e, uint32_t step,
                                         uint32_t attempt, HttpCall call,
                                         BreakerTicket ticket, uint64_t permit) {
  bool cancelled = false;
  HttpResult r = co_await CallTracked(self, e, step, attempt, std::move(call), cancelled);  // suspends
  self->ReleasePermit(permit);  // the call is over, whatever its outcome
  ShardEngineStats& stats = *self->stats_;
  const auto type = static_cast<size_t>(StepType::kHttp);
  self->RecordBreaker(ticket, r, cancelled);
  if (!cancelled && r.error.code != Errc::kCancelled) {
    const bool ok = r.error.code == Errc::kOk && r.status >= 200 && r.status < 300;
    if (ok) {
      json::Value out = json::Object{{"status", static_cast<int64_t>(r.status)}, {"body", std::move(r.body)}};
      double u = self->NextUnit();  // the jitter of a retry, should the output be refused
      self->Mutate(*e, [&](Machine& m) {
        m.StepSucceeded(step, attempt, std::move(out), u);
        return 0;
      });
      stats.steps[type][Outcome(e->run.steps[step].status)].Add();
    } else {
      self->FailHttp(*e, step, attempt,
                     r.error.code == Errc::kOk ? "HTTP " + std::to_string(r.status) : r.error.ToString(),
                     RetryableHttp(r, e->run.def->steps[step].retry));
    }
  }
  self->PumpNow();  // a slot is free
}

// --- durable timers ------------------------------------------------------------

void Coordinator::AddTimer(Entry& e, const Timer& t) {
  timers_.emplace(t.due_ms, TimerRef{e.run.id, t.step});
  if (timers_.begin()->first == t.due_ms) RearmTimer();
}

void Coordinator::RearmTimer() {
  reactor::Shard& shard = reactor::Shard::Current();
  if (timers_.empty()) {
    shard.Disarm(&timer_node_);
    return;
  }
  // Due times are wall-clock (they survive restarts); the shard's timers are
  // monotonic. Rounding up a millisecond keeps a timer from firing early.
  int64_t delta_ms = timers_.begin()->first - NowMs() + 1;
  shard.Arm(&timer_node_, MonoNow() + std::max<int64_t>(delta_ms, 0) * kMillis);
}

void Coordinator::OnTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  const int64_t now = self->NowMs();
  while (!self->timers_.empty() && self->timers_.begin()->first <= now) {
    auto [due, ref] = *self->timers_.begin();
    self->timers_.erase(self->timers_.begin());
    Entry* e = self->Find(ref.run);
    // Being handed over: the store keeps the timer for the next holder.
    if (!e || IsTerminal(e->run.status) || self->Releasing(*e)) continue;
    self->Mutate(*e, [&](Machine& m) {
      m.TimerFired(Timer{ref.step, due});
      return 0;
    });
  }
  self->RearmTimer();
}

}  // namespace rf::engine

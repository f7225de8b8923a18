// Bulk operations: the per-shard tables and the worker that applies one (bulk.h).

#include "api/bulk.h"

#include <algorithm>
#include <charconv>

#include "api/forward.h"
#include "base/tenancy.h"
#include "json/writer.h"
#include "obs/metrics.h"
#include "reactor/shard.h"
#include "reactor/submit_to.h"

namespace rf::api {
namespace {

constexpr size_t kPageSize = 100;

std::string_view StateName(BulkOperation::State s) {
  switch (s) {
    case BulkOperation::State::kRunning: return "running";
    case BulkOperation::State::kSucceeded: return "succeeded";
    case BulkOperation::State::kFailed: return "failed";
    case BulkOperation::State::kCancelled: return "cancelled";
  }
  return "running";
}

// The smallest id of the millisecond `ms`: a cursor whose "strictly older" means created before.
engine::RunId IdAt(int64_t ms) {
  engine::RunId id{};
  for (int i = 5; i >= 0; --i) {
    id.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(ms & 0xff);
    ms >>= 8;
  }
  return id;
}

reactor::Task<Result<engine::RunView>> CommandOn(BulkAction action, engine::RunId id, std::string ns) {
  engine::Coordinator& c = engine::Coordinator::Local();
  if (action == BulkAction::kCancel) return c.Cancel(id, std::move(ns));
  return c.Retry(id, std::move(ns));
}

int64_t WallMs() { return WallNow() / kMillis; }

}  // namespace

std::string BulkOperation::ToJson(std::string_view plain_workflow) const {
  json::Object filter_json;
  if (!filter.workflow.empty()) filter_json.emplace_back("workflow", std::string(plain_workflow));
  if (filter.status) filter_json.emplace_back("status", std::string(engine::RunStatusName(*filter.status)));
  if (filter.created_after_ms) filter_json.emplace_back("created_after_ms", filter.created_after_ms);
  if (filter.created_before_ms) filter_json.emplace_back("created_before_ms", filter.created_before_ms);
  json::Array errs;
  for (const auto& [run, message] : errors) errs.emplace_back(json::Object{{"run", run}, {"error", message}});
  json::Object o{{"id", id},
                 {"namespace", ns},
                 {"action", action == BulkAction::kCancel ? "cancel" : "retry"},
                 {"filter", std::move(filter_json)},
                 {"max_per_second", static_cast<int64_t>(max_per_second)},
                 {"state", std::string(StateName(state))},
                 {"matched", static_cast<int64_t>(matched)},
                 {"done", static_cast<int64_t>(done)},
                 {"skipped", static_cast<int64_t>(skipped)},
                 {"failed", static_cast<int64_t>(failed)},
                 {"errors", std::move(errs)},
                 {"created_ms", created_ms}};
  if (finished_ms) o.emplace_back("finished_ms", finished_ms);
  if (!error.empty()) o.emplace_back("error", error);
  return json::ToString(json::Value(std::move(o)));
}

BulkOperations::BulkOperations(unsigned shards) {
  for (unsigned i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

Result<std::shared_ptr<BulkOperation>> BulkOperations::Start(BulkOperation op) {
  const unsigned here = reactor::Shard::Current().id();
  Shard& shard = *shards_[here];
  if (shard.closing) return Error{Errc::kUnavailable, "the daemon is stopping"};
  size_t running = 0;
  for (const auto& o : shard.ops) running += o->state == BulkOperation::State::kRunning;
  if (running >= kMaxRunningPerShard)
    return Error{Errc::kLimited, std::to_string(running) + " bulk operations are running on this shard; "
                                 "wait for one to finish or cancel one"};
  // Forget the oldest finished ones beyond the bound (running ones are never dropped).
  while (shard.ops.size() >= kKeptPerShard) {
    auto it = std::find_if(shard.ops.begin(), shard.ops.end(),
                           [](const auto& o) { return o->state != BulkOperation::State::kRunning; });
    if (it == shard.ops.end()) break;
    shard.ops.erase(it);
  }
  op.id = "op" + std::to_string(here) + "-" + std::to_string(++shard.next) + "-" + std::to_string(WallMs());
  op.created_ms = WallMs();
  auto shared = std::make_shared<BulkOperation>(std::move(op));
  shard.ops.push_back(shared);
  shard.stats.running.Add(1);
  reactor::Spawn(Work(this, shared), &shard.workers);
  return shared;
}

std::optional<unsigned> BulkOperations::ShardOf(std::string_view id) const {
  if (!id.starts_with("op")) return std::nullopt;
  unsigned shard = 0;
  const char* begin = id.data() + 2;
  auto [end, ec] = std::from_chars(begin, id.data() + id.size(), shard);
  if (ec != std::errc() || end == begin || end == id.data() + id.size() || *end != '-' ||
      shard >= shards_.size())
    return std::nullopt;
  return shard;
}

std::shared_ptr<BulkOperation> BulkOperations::Find(std::string_view id, std::string_view ns) const {
  const Shard& shard = *shards_[reactor::Shard::Current().id()];
  for (const auto& o : shard.ops)
    if (o->id == id && o->ns == ns) return o;
  return nullptr;
}

std::vector<std::shared_ptr<const BulkOperation>> BulkOperations::List(std::string_view ns) const {
  std::vector<std::shared_ptr<const BulkOperation>> out;
  const Shard& shard = *shards_[reactor::Shard::Current().id()];
  for (auto it = shard.ops.rbegin(); it != shard.ops.rend(); ++it)
    if ((*it)->ns == ns) out.push_back(*it);
  return out;
}

reactor::Task<Status> BulkOperations::Apply(BulkOperation& op, const engine::RunId& id) {
  auto r = co_await reactor::SubmitTo(ctx_->engine->OwnerOf(id), &CommandOn, op.action, id, op.ns);  // suspends
  if (r) co_return Status{};
  if (r.error().code != Errc::kNotHeld) co_return r.error();
  // Held by another instance: the same request there, with the caller's credential.
  http::client::Request req;
  req.method = "POST";
  req.url = (op.ns == kDefaultNamespace ? std::string("/v1") : "/v1/namespaces/" + op.ns) + "/runs/" +
            id.ToString() + (op.action == BulkAction::kCancel ? "/cancel" : "/retry");
  req.headers.emplace_back("Content-Type", "application/json");
  if (!op.authorization.empty()) req.headers.emplace_back("Authorization", op.authorization);
  auto got = co_await SendToHolder(*ctx_, id.partition(), std::move(req));  // suspends
  if (!got) co_return got.error();
  if (got->status == 200) co_return Status{};
  const Errc code = got->status == 409 ? Errc::kConflict : got->status == 404 ? Errc::kNotFound : Errc::kUnavailable;
  co_return Error{code, "its holder answered " + std::to_string(got->status) + ": " +
                            std::string(got->body.substr(0, 200))};
}

reactor::Task<void> BulkOperations::Work(BulkOperations* self, std::shared_ptr<BulkOperation> op) {
  Shard& shard = *self->shards_[reactor::Shard::Current().id()];
  engine::RunQuery q;
  q.ns = op->ns;
  q.workflow = op->filter.workflow;
  if (op->filter.status) {
    q.any_status = false;
    q.status = *op->filter.status;
  }
  q.limit = kPageSize;
  if (op->filter.created_before_ms) q.before = IdAt(op->filter.created_before_ms);
  const Nanos interval = kSeconds / std::max<uint32_t>(op->max_per_second, 1);
  Nanos next_at = MonoNow();
  bool finished = false;
  while (!finished && !op->stop && !shard.closing) {
    auto page = co_await self->ctx_->engine->List(q);  // suspends
    if (!page) {
      op->state = BulkOperation::State::kFailed;
      op->error = "listing the runs failed: " + page.error().ToString();
      break;
    }
    for (const auto& [id, json] : page->runs) {
      if (op->stop || shard.closing) break;
      if (op->filter.created_after_ms && id.unix_ms() < op->filter.created_after_ms) {
        finished = true;  // newest first: every later one is older still
        break;
      }
      ++op->matched;
      if (const Nanos now = MonoNow(); now < next_at) co_await reactor::Sleep(next_at - now);  // suspends
      next_at = std::max(next_at, MonoNow()) + interval;
      Status st = co_await self->Apply(*op, id);  // suspends
      if (st) {
        ++op->done;
        shard.stats.runs_done.Add();
      } else if (st.error().code == Errc::kConflict || st.error().code == Errc::kNotFound) {
        ++op->skipped;  // finished meanwhile, not failed, or removed by retention
        shard.stats.runs_skipped.Add();
      } else {
        ++op->failed;
        shard.stats.runs_failed.Add();
        if (op->errors.size() < kKeptErrors) op->errors.emplace_back(id.ToString(), st.error().ToString());
      }
    }
    if (op->stop || shard.closing) break;
    if (!page->more || page->runs.empty()) finished = true;
    else q.before = page->runs.back().first;
  }
  if (op->state == BulkOperation::State::kRunning) {
    if (finished) {
      op->state = BulkOperation::State::kSucceeded;
    } else {
      op->state = BulkOperation::State::kCancelled;
      if (shard.closing && !op->stop) op->error = "the daemon stopped; send the operation again to finish it";
    }
  }
  op->finished_ms = WallMs();
  shard.stats.running.Add(-1);
}

reactor::Task<void> BulkOperations::CloseHere(BulkOperations* self) {
  Shard& shard = *self->shards_[reactor::Shard::Current().id()];
  shard.closing = true;
  co_await shard.workers.Wait();  // suspends
}

reactor::Task<void> BulkOperations::Close() {
  for (unsigned i = 0; i < shards_.size(); ++i) co_await reactor::SubmitTo(i, &CloseHere, this);  // suspends
}

void BulkOperations::RenderMetrics(std::string& out) const {
  obs::TextExposition x(out);
  int64_t running = 0;
  uint64_t done = 0, skipped = 0, failed = 0;
  for (const auto& s : shards_) {
    running += s->stats.running.Get();
    done += s->stats.runs_done.Get();
    skipped += s->stats.runs_skipped.Get();
    failed += s->stats.runs_failed.Get();
  }
  x.Family("rf_bulk_operations_running", "gauge", "bulk operations (POST /v1/operations) at work");
  x.Sample("rf_bulk_operations_running", "", static_cast<double>(running));
  x.Family("rf_bulk_operation_runs_total", "counter", "runs bulk operations handled, by outcome");
  x.SampleU("rf_bulk_operation_runs_total", "outcome=\"done\"", done);
  x.SampleU("rf_bulk_operation_runs_total", "outcome=\"skipped\"", skipped);
  x.SampleU("rf_bulk_operation_runs_total", "outcome=\"failed\"", failed);
}

}  // namespace rf::api

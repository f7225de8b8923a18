#include "store/redis/redis_event_bus.h"

#include <charconv>

#include "obs/log.h"
#include "obs/metrics.h"
#include "reactor/shard.h"

namespace rf::store::redis {
namespace {

constexpr Nanos kBlock = 1 * kSeconds;         // XREAD BLOCK: how long a read waits for entries
constexpr Nanos kReadDeadline = 3 * kSeconds;  // the block, plus a slow round trip
constexpr Nanos kSendDeadline = 2 * kSeconds;
constexpr Nanos kRetry = 500 * kMillis;        // between reads while Redis is away
constexpr std::string_view kBatch = "256";     // entries per read

bool ParseU64(std::string_view s, uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string EncodeEventRows(const std::vector<OutboxRow>& rows) {
  std::string out;
  for (const OutboxRow& r : rows) {
    out += r.run.ToString();
    out += '\t';
    out += std::to_string(r.first_seq);
    out += '\t';
    out += std::to_string(r.last_seq);
    out += '\t';
    out += r.workflow;
    out += '\t';
    out += r.data;
    out += '\n';
  }
  return out;
}

bool DecodeEventRows(std::string_view text, std::vector<OutboxRow>& out) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    std::string_view f[4];
    for (auto& field : f) {
      const size_t tab = line.find('\t');
      if (tab == std::string_view::npos) return false;
      field = line.substr(0, tab);
      line.remove_prefix(tab + 1);
    }
    OutboxRow row;
    auto id = ParseRunId(f[0]);
    if (!id || !ParseU64(f[1], row.first_seq) || !ParseU64(f[2], row.last_seq)) return false;
    row.run = *id;
    row.workflow = std::string(f[3]);
    row.data = std::string(line);
    out.push_back(std::move(row));
  }
  return true;
}

RedisEventBus::RedisEventBus(RedisUrl url, std::string instance, RedisConn::Options conn)
    : url_(std::move(url)), instance_(std::move(instance)), conn_(conn) {}

RedisEventBus::~RedisEventBus() = default;

reactor::Task<Status> RedisEventBus::Open(EventRelay::Deliver deliver) {
  deliver_ = std::move(deliver);
  pub_ = std::make_unique<RedisClient>(RedisClient::Options{.url = url_, .conn = conn_});
  sub_ = std::make_unique<RedisClient>(RedisClient::Options{.url = url_, .conn = conn_});
  pub_->Start();
  sub_->Start();
  // Read from what is newest now: a subscriber's history comes from the database; the
  // stream only carries what happens from here on. Redis away: the first read that works
  // starts from its newest entry (nothing older is wanted anyway).
  auto last = co_await sub_->Command(Deadline::After(kSendDeadline), "XREVRANGE", kStream, "+", "-",
                                     "COUNT", "1");  // suspends
  if (last && last->type == RedisReply::Type::kArray && !last->elements.empty() &&
      !last->elements[0].elements.empty())
    last_id_ = last->elements[0].elements[0].str;
  else if (last)
    last_id_ = "0-0";
  else
    RF_LOG(kWarn, "redis: cluster events unavailable at start; retrying",
           {"redis", url_.Endpoint()}, {"error", last.error().ToString()});
  up_.store(last.has_value(), std::memory_order_relaxed);
  reactor::Spawn(Read(this), &tasks_);
  co_return Status{};
}

void RedisEventBus::Publish(const std::vector<OutboxRow>& rows) {
  if (closing_ || rows.empty()) return;
  if (in_flight_ >= kMaxInFlight || !pub_->healthy()) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  reactor::Spawn(Send(this, EncodeEventRows(rows)), &tasks_);
}

reactor::Task<void> RedisEventBus::Send(RedisEventBus* self, std::string rows) {
  ++self->in_flight_;
  const std::string max_len = std::to_string(kMaxLen);
  auto r = co_await self->pub_->Command(Deadline::After(kSendDeadline), "XADD", kStream, "MAXLEN", "~",
                                        max_len, "*", "from", self->instance_, "rows", rows);  // suspends
  --self->in_flight_;
  if (r && r->type != RedisReply::Type::kError) {
    self->published_.fetch_add(1, std::memory_order_relaxed);
  } else {
    self->dropped_.fetch_add(1, std::memory_order_relaxed);
  }
}

reactor::Task<void> RedisEventBus::Read(RedisEventBus* self) {
  const std::string block = std::to_string(kBlock / kMillis);
  std::vector<OutboxRow> rows;
  Nanos logged = 0;
  while (!self->closing_) {
    const std::string from = self->last_id_.empty() ? std::string("$") : self->last_id_;
    auto r = co_await self->sub_->Command(Deadline::After(kReadDeadline), "XREAD", "COUNT", kBatch, "BLOCK",
                                          block, "STREAMS", kStream, from);  // suspends
    if (self->closing_) break;
    if (!r || r->type == RedisReply::Type::kError) {
      self->up_.store(false, std::memory_order_relaxed);
      self->read_errors_.fetch_add(1, std::memory_order_relaxed);
      if (MonoNow() - logged > 10 * kSeconds) {
        logged = MonoNow();
        RF_LOG(kWarn, "redis: cluster events paused; retrying", {"redis", self->url_.Endpoint()},
               {"error", r ? r->str : r.error().ToString()});
      }
      co_await reactor::Sleep(kRetry);  // suspends
      continue;
    }
    if (!self->up_.exchange(true, std::memory_order_relaxed))
      RF_LOG(kInfo, "redis: cluster events flowing", {"redis", self->url_.Endpoint()});
    if (r->is_nil()) continue;  // the block passed without entries
    // [[stream, [[id, [field, value, ...]], ...]]]
    for (const RedisReply& stream : r->elements) {
      if (stream.elements.size() < 2) continue;
      for (const RedisReply& entry : stream.elements[1].elements) {
        if (entry.elements.size() < 2) continue;
        self->last_id_ = entry.elements[0].str;
        const auto& kv = entry.elements[1].elements;
        std::string_view who, text;
        for (size_t i = 0; i + 1 < kv.size(); i += 2) {
          if (kv[i].str == "from") who = kv[i + 1].str;
          else if (kv[i].str == "rows") text = kv[i + 1].str;
        }
        if (who == self->instance_) continue;  // its own relay delivered these already
        rows.clear();
        if (!DecodeEventRows(text, rows)) {
          RF_LOG(kWarn, "redis: unreadable cluster events entry skipped", {"id", self->last_id_});
          continue;
        }
        self->received_.fetch_add(1, std::memory_order_relaxed);
        if (!rows.empty()) self->deliver_(rows);
      }
    }
  }
}

reactor::Task<void> RedisEventBus::Close() {
  closing_ = true;
  if (sub_) co_await sub_->Close();  // suspends: ends a read under way
  if (pub_) co_await pub_->Close();  // suspends
  co_await tasks_.Wait();            // suspends
}

void RedisEventBus::RenderMetrics(std::string& out) const {
  obs::TextExposition x(out);
  x.Family("rf_cluster_events_up", "gauge", "1 while this instance reads the cluster's event stream in Redis.");
  x.Sample("rf_cluster_events_up", "", up_.load(std::memory_order_relaxed) ? 1 : 0);
  x.Family("rf_cluster_events_published_total", "counter", "Relay batches published to the other instances.");
  x.SampleU("rf_cluster_events_published_total", "", published_.load(std::memory_order_relaxed));
  x.Family("rf_cluster_events_dropped_total", "counter",
           "Relay batches not published (Redis away or too far behind): other instances' streams miss them.");
  x.SampleU("rf_cluster_events_dropped_total", "", dropped_.load(std::memory_order_relaxed));
  x.Family("rf_cluster_events_received_total", "counter", "Batches received from other instances.");
  x.SampleU("rf_cluster_events_received_total", "", received_.load(std::memory_order_relaxed));
  x.Family("rf_cluster_events_read_errors_total", "counter", "Failed reads of the cluster's event stream.");
  x.SampleU("rf_cluster_events_read_errors_total", "", read_errors_.load(std::memory_order_relaxed));
}

}  // namespace rf::store::redis

// Live events: SSE subscriptions to one run or to one workflow, and the
// history a subscriber gets first. With the embedded store the coordinator
// publishes a batch's events once it is durable and rebuilds history from the
// run's log; with a store that has an outbox (PostgreSQL) the relay delivers
// committed events here and history is read from the outbox.

#include <algorithm>

#include "base/tenancy.h"
#include "engine/coordinator.h"
#include "json/parse.h"
#include "json/writer.h"
#include "obs/log.h"
#include "store/run_log.h"

namespace rf::engine {
namespace {

bool IsTerminalEvent(std::string_view type) {
  return type == "run.succeeded" || type == "run.failed" || type == "run.cancelled";
}

// A subscriber whose gap stays open this long (in events) is ended instead of
// buffering on: it reconnects with Last-Event-ID and reads the history.
constexpr size_t kMaxHeld = 4096;

// Whether the run whose outbox rows these are (from its first) was created in namespace `ns`:
// its run.created event names it (no "namespace": the default one). kNotFound otherwise.
Status CheckCreatedIn(const RunId& id, const std::vector<store::OutboxRow>& rows, std::string_view ns) {
  if (rows.empty()) return {};  // no such run: the caller says so
  auto v = json::Parse(rows.front().data, {.max_bytes = size_t{1} << 30, .max_depth = 1024});
  if (!v || !v->is_array()) return Error{Errc::kCorrupt, "outbox row: not a JSON array"};
  for (const json::Value& ev : v->as_array()) {
    const json::Value* type = ev.Find("type");
    if (!type || !type->is_string() || type->as_string() != "run.created") continue;
    const json::Value* data = ev.Find("data");
    const json::Value* in = data ? data->Find("namespace") : nullptr;
    const std::string_view created_in =
        in && in->is_string() ? std::string_view(in->as_string()) : kDefaultNamespace;
    if (created_in == ns) return {};
    break;
  }
  return Error{Errc::kNotFound, "no run with id " + id.ToString()};
}

}  // namespace

Status Coordinator::FramesOf(const RunId& run, std::string_view events_json, uint64_t after_seq,
                             std::vector<Frame>& out) {
  auto v = json::Parse(events_json, {.max_bytes = size_t{1} << 30, .max_depth = 1024});
  if (!v) return Error{Errc::kCorrupt, "outbox row: " + v.error().ToString()};
  if (!v->is_array()) return Error{Errc::kCorrupt, "outbox row: not a JSON array"};
  for (json::Value& ev : v->as_array()) {
    if (!ev.is_object()) return Error{Errc::kCorrupt, "outbox row: an event that is not an object"};
    const json::Value* seq = ev.Find("seq");
    const json::Value* type = ev.Find("type");
    if (!seq || !type || !seq->is_int() || seq->as_int() < 1 || !type->is_string())
      return Error{Errc::kCorrupt, "outbox row: an event without seq or type"};
    const auto n = static_cast<uint64_t>(seq->as_int());
    if (n <= after_seq) continue;
    const json::Value* at = ev.Find("at_ms");
    Frame f{n, at && at->is_int() ? at->as_int() : 0, IsTerminalEvent(type->as_string()), {}};
    const std::string type_name = type->as_string();
    // The stored event omits its run: put it back where EventToJson has it.
    json::Object& o = ev.as_object();
    if (!ev.Find("run")) o.emplace(o.begin() + std::min<size_t>(2, o.size()), "run", run.ToString());
    f.text = fanout::MakeFrame(n, type_name, json::ToString(ev));
    out.push_back(std::move(f));
  }
  return {};
}

reactor::Task<Status> Coordinator::Subscribe(RunId id, uint64_t after_seq,
                                             std::shared_ptr<fanout::Subscriber> s, std::string ns) {
  auto loaded = co_await Load(id);  // suspends
  if (!loaded && loaded.error().code == Errc::kNotHeld && remote_streams_)
    co_return co_await SubscribeRemote(id, after_seq, std::move(s), std::move(ns));  // suspends
  if (!loaded) co_return loaded.error();
  Entry* e = *loaded;
  if (!ns.empty() && !InNamespace(e->run.def->name, ns))
    co_return Error{Errc::kNotFound, "no run with id " + id.ToString()};
  if (!store_->relays_events()) co_return SubscribeFromLog(*e, after_seq, std::move(s));
  // Registered before the history is read: whatever the relay delivers
  // meanwhile is held, so nothing committed after the read is missed and
  // nothing is sent twice or out of order.
  Entry::Sub& added = e->subscribers.emplace_back();
  added.to = s;
  added.seen = after_seq;
  added.ready = false;
  auto rows = co_await store_->History(id, after_seq);  // suspends
  e = Find(id);
  if (!e) co_return Status{};  // retention removed it meanwhile and ended the stream
  auto it = std::find_if(e->subscribers.begin(), e->subscribers.end(),
                         [&](const Entry::Sub& x) { return x.to == s; });
  if (it == e->subscribers.end()) co_return Status{};
  std::vector<Frame> frames;
  Status st = rows ? Status{} : Status{rows.error()};
  for (size_t i = 0; st && i < rows->size(); ++i) st = FramesOf(id, (*rows)[i].data, after_seq, frames);
  if (!st) {
    e->subscribers.erase(it);
    co_return Error{Errc::kUnavailable, "event history: " + st.error().ToString()};
  }
  for (Frame& f : frames) it->held.try_emplace(f.seq, std::move(f.text), f.terminal);
  it->ready = true;
  // A resume after the terminal event (Last-Event-ID at the end) sends nothing and ends.
  const bool over = e->terminal_durable && it->held.empty() && it->seen >= e->run.event_seq;
  if (Flush(*it, over)) e->subscribers.erase(it);
  co_return Status{};
}

// A run another instance holds: its history from the store, then its events as the
// cluster's bus delivers them (DeliverOutbox), registered before the read like Subscribe.
reactor::Task<Status> Coordinator::SubscribeRemote(RunId id, uint64_t after_seq,
                                                   std::shared_ptr<fanout::Subscriber> s,
                                                   std::string ns) {
  Entry::Sub& added = remote_subs_[id].emplace_back();
  added.to = s;
  added.seen = after_seq;
  added.ready = false;
  // The run's namespace is in its first event: read from there when it must be checked.
  auto rows = co_await store_->History(id, ns.empty() ? after_seq : 0);  // suspends
  auto list = remote_subs_.find(id);
  if (list == remote_subs_.end()) co_return Status{};
  auto it = std::find_if(list->second.begin(), list->second.end(), [&](const Entry::Sub& x) { return x.to == s; });
  if (it == list->second.end()) co_return Status{};
  std::vector<Frame> frames;
  Status st = rows ? Status{} : Status{rows.error()};
  if (st && !ns.empty()) st = CheckCreatedIn(id, *rows, ns);
  for (size_t i = 0; st && i < rows->size(); ++i) st = FramesOf(id, (*rows)[i].data, after_seq, frames);
  // Every run has events from its creation on: none at all means no such run.
  if (st && after_seq == 0 && frames.empty()) st = Error{Errc::kNotFound, "no run with id " + id.ToString()};
  if (!st) {
    list->second.erase(it);
    if (list->second.empty()) remote_subs_.erase(list);
    if (st.error().code == Errc::kNotFound) co_return st;
    co_return Error{Errc::kUnavailable, "event history: " + st.error().ToString()};
  }
  for (Frame& f : frames) it->held.try_emplace(f.seq, std::move(f.text), f.terminal);
  it->ready = true;
  if (Flush(*it, false)) list->second.erase(it);
  if (list->second.empty()) remote_subs_.erase(list);
  co_return Status{};
}

Status Coordinator::SubscribeFromLog(Entry& e, uint64_t after_seq, std::shared_ptr<fanout::Subscriber> s) {
  // History is rebuilt from the run's log: events are not kept, records are.
  Run scratch;
  scratch.def = e.run.def;
  std::vector<Event> events;
  uint32_t n = 0;
  Status st = store::ForEachLogRecord(e.log, [&](std::string_view payload) -> Status {
    // A quarantined run's history is what replay applied, then its failure.
    if (e.quarantined_at && ++n >= e.quarantined_at) return {};
    auto r = DecodeRecord(payload);
    if (!r) return r.error();
    Apply(scratch, *r, &events);
    return {};
  });
  if (!st) return st;
  if (e.quarantined_at) Apply(scratch, QuarantineRecord(e), &events);
  std::string frames;
  for (const Event& ev : events)
    if (ev.seq > after_seq)
      fanout::AppendFrame(frames, ev.seq, ev.type, json::ToString(EventToJson(ev, e.run.id)));
  const bool end = e.terminal_durable;
  fanout::Subscriber::Publish(s, std::move(frames), end);
  if (!end) {
    Entry::Sub& sub = e.subscribers.emplace_back();
    sub.to = std::move(s);
    sub.seen = std::max(after_seq, e.run.event_seq);
  }
  return {};
}

void Coordinator::SubscribeWorkflow(std::string workflow, std::shared_ptr<fanout::Subscriber> s) {
  workflow_subs_.emplace(std::move(workflow), WorkflowSub{std::move(s), NowMs()});
}

void Coordinator::Publish(Entry& e, const std::vector<Event>& events, bool finished) {
  std::vector<Frame> frames;
  frames.reserve(events.size());
  for (const Event& ev : events) {
    // Serialized once here, on the run's owner: every subscriber on every shard shares it.
    Frame f{ev.seq, ev.at_ms, IsTerminalEvent(ev.type),
            fanout::MakeFrame(ev.seq, ev.type, json::ToString(EventToJson(ev, e.run.id)))};
    frames.push_back(std::move(f));
  }
  Offer(e, frames, finished);
  PublishWorkflow(e.run.def->name, frames);
}

void Coordinator::DeliverOutbox(const std::vector<store::OutboxRow>& rows) {
  std::vector<Frame> frames;
  for (const store::OutboxRow& row : rows) {
    Entry* e = Find(row.run);
    const bool run_subs = e && !e->subscribers.empty();
    auto remote = remote_subs_.find(row.run);
    if (row.data.empty() || (!run_subs && remote == remote_subs_.end() &&
                             workflow_subs_.find(row.workflow) == workflow_subs_.end()))
      continue;
    frames.clear();
    if (Status st = FramesOf(row.run, row.data, 0, frames); !st) {
      RF_LOG(kWarn, "outbox: undeliverable events", {"run", row.run.ToString()},
             {"error", st.error().ToString()});
      continue;
    }
    if (run_subs) {
      Offer(*e, frames, false);
      if (e->subscribers.empty() && e->terminal_durable) Compact(*e);
    }
    if (remote != remote_subs_.end()) {
      OfferTo(remote->second, frames, false);
      if (remote->second.empty()) remote_subs_.erase(remote);
    }
    PublishWorkflow(row.workflow, frames);
  }
}

void Coordinator::Offer(Entry& e, const std::vector<Frame>& frames, bool finished) {
  OfferTo(e.subscribers, frames, finished);
}

void Coordinator::OfferTo(std::vector<Entry::Sub>& subs, const std::vector<Frame>& frames, bool finished) {
  for (Entry::Sub& sub : subs) {
    if (sub.to->closed()) continue;
    for (const Frame& f : frames)
      if (f.seq > sub.seen) sub.held.try_emplace(f.seq, f.text, f.terminal);
    if (sub.ready) sub.done = Flush(sub, finished);
  }
  std::erase_if(subs, [](const Entry::Sub& s) { return s.done || s.to->closed(); });
}

bool Coordinator::Flush(Entry::Sub& sub, bool finished) const {
  std::vector<fanout::Chunk> out;
  bool terminal = false;
  for (auto it = sub.held.begin(); it != sub.held.end();) {
    if (it->first <= sub.seen) {
      it = sub.held.erase(it);
      continue;
    }
    if (it->first != sub.seen + 1) break;  // a gap: the missing rows are still to come
    out.push_back(std::move(it->second.first));
    terminal = it->second.second;
    sub.seen = it->first;
    it = sub.held.erase(it);
  }
  const bool end = finished || (store_->relays_events() && terminal) || sub.held.size() > kMaxHeld;
  if (!out.empty() || end) fanout::Subscriber::Publish(sub.to, std::move(out), end);
  return end;
}

void Coordinator::PublishWorkflow(const std::string& workflow, const std::vector<Frame>& frames) {
  if (frames.empty()) return;
  auto [lo, hi] = workflow_subs_.equal_range(workflow);
  if (lo == hi) return;
  std::vector<fanout::Chunk> all;
  all.reserve(frames.size());
  int64_t oldest = frames.front().at_ms;
  for (const Frame& f : frames) {
    all.push_back(f.text);
    oldest = std::min(oldest, f.at_ms);
  }
  // Subscribers that get every frame share one message per home shard; the
  // rest (a relayed batch older than their subscription) are filtered one by one.
  std::vector<std::shared_ptr<fanout::Subscriber>>& every = publish_scratch_;
  every.clear();
  for (auto it = lo; it != hi;) {
    if (it->second.to->closed()) {
      it = workflow_subs_.erase(it);
      continue;
    }
    // The relay may deliver events committed before the feed subscribed: a
    // feed shows what happened after it opened. (Without a relay, what is
    // published now became durable after the subscription: all of it is news.)
    if (!store_->relays_events() || oldest >= it->second.since_ms) {
      every.push_back(it->second.to);
    } else {
      std::vector<fanout::Chunk> some;
      for (const Frame& f : frames)
        if (f.at_ms >= it->second.since_ms) some.push_back(f.text);
      if (!some.empty()) fanout::Subscriber::Publish(it->second.to, std::move(some), false);
    }
    ++it;
  }
  fanout::Subscriber::PublishAll(every, all);
  every.clear();
}

}  // namespace rf::engine

#include "coordinator_fixture.h"

#include <coroutine>
#include <filesystem>
#include <utility>

#include "base/hash_ring.h"
#include "engine/coordinator.h"
#include "json/parse.h"
#include "json/pointer.h"
#include "json/value_limits.h"
#include "json/writer.h"
#include "reactor/shard.h"
#include "reactor/test_reactor.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/format.h"
#include "store/history/embedded_history.h"

namespace rf::engine::test {
namespace {

// Resumes its coroutine when the token fires or, if one is given, at `deadline`;
// yields whether the token fired.
class UntilFired : public CancelToken::Listener {
 public:
  UntilFired(CancelToken* token, Nanos deadline) : token_(token), deadline_(deadline) {
    on_fire = &OnFire;
    timer_.fire = &OnTimer;
    timer_.self = this;
  }
  bool await_ready() const noexcept { return token_->fired(); }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    token_->Add(this);
    if (deadline_ > 0) rf::reactor::Shard::Current().Arm(&timer_, deadline_);
  }
  bool await_resume() noexcept {
    if (waiter_) {
      token_->Remove(this);
      rf::reactor::Shard::Current().Disarm(&timer_);
    }
    return token_->fired();
  }

 private:
  struct Timer : rf::reactor::Shard::TimerNode {
    UntilFired* self = nullptr;
  };
  static void OnFire(CancelToken::Listener* l) { static_cast<UntilFired*>(l)->Wake(); }
  static void OnTimer(rf::reactor::Shard::TimerNode* n) { static_cast<Timer*>(n)->self->Wake(); }
  void Wake() {
    if (woken_) return;
    woken_ = true;
    rf::reactor::Shard::Current().Schedule(waiter_);
  }
  CancelToken* token_;
  Nanos deadline_;
  Timer timer_;
  std::coroutine_handle<> waiter_;
  bool woken_ = false;
};

// Open, the phase's body, Close, all on shard 0.
Task<void> Drive() {
  Engine* e = g->engine.get();
  Status st = co_await e->Open();  // suspends
  if (st) {
    co_await g->body(e);  // suspends
  } else {
    g->open_error = st.error().ToString();
  }
  const Nanos t0 = MonoNow();
  co_await e->Close();  // suspends
  g->close_took = MonoNow() - t0;
}

Task<Result<RunView>> StartOn(StartCommand cmd) {
  return Coordinator::Local().Start(std::move(cmd));
}
rf::reactor::Task<Result<RunView>> GetOn(RunId id) { return Coordinator::Local().Get(id); }
Task<Result<RunView>> CancelOn(RunId id) { return Coordinator::Local().Cancel(id); }
Task<Result<RunView>> RetryOn(RunId id) { return Coordinator::Local().Retry(id); }
Task<Result<RunView>> SignalOn(RunId id, std::string name, Value payload) {
  return Coordinator::Local().Signal(id, std::move(name), std::move(payload));
}
Task<Status> SubscribeOn(RunId id, uint64_t after, std::shared_ptr<Subscriber> s) {
  return Coordinator::Local().Subscribe(id, after, std::move(s));
}
size_t RunCountOn() { return Coordinator::Local().run_count(); }

// A partition that `shard` owns.
uint32_t PartitionOn(Engine* e, unsigned shard) {
  for (uint32_t p = 0; p < rf::kPartitions; ++p)
    if (e->OwnerOf(p) == shard) return p;
  FAIL_CHECK("shard " << shard << " owns no partition");
  return 0;
}

Task<Result<RunView>> Command(Engine* e, RunId id, int kind, std::string name = "",
                              Value payload = Value()) {
  if (kind == 0) {
    auto op = SubmitTo(e->OwnerOf(id), &CancelOn, id);
    Result<RunView> r = co_await op;  // suspends
    co_return r;
  }
  if (kind == 1) {
    auto op = SubmitTo(e->OwnerOf(id), &SignalOn, id, std::move(name), std::move(payload));
    Result<RunView> r = co_await op;  // suspends
    co_return r;
  }
  auto op = SubmitTo(e->OwnerOf(id), &RetryOn, id);
  Result<RunView> r = co_await op;  // suspends
  co_return r;
}

}  // namespace

Value J(std::string_view text) {
  // A run's JSON wraps values that may be nested up to the limit.
  auto v = rf::json::Parse(
      text, {.max_bytes = rf::json::kReplayMaxBytes, .max_depth = rf::json::kReplayMaxDepth});
  if (!v) {
    FAIL_CHECK("not JSON: " << v.error().ToString() << ": " << text);
    return Value();
  }
  return *v;
}

std::string S(const Value& v) { return rf::json::ToString(v); }

Value At(const Value& v, std::string_view pointer) {
  const Value* p = rf::json::Resolve(v, pointer);
  return p ? *p : Value();
}

std::string Str(const Value& v, std::string_view pointer) {
  Value x = At(v, pointer);
  return x.is_string() ? x.as_string() : "<" + S(x) + ">";
}

int64_t Int(const Value& v, std::string_view pointer) {
  Value x = At(v, pointer);
  return x.is_int() ? x.as_int() : -1;
}

size_t Size(const Value& v, std::string_view pointer) {
  Value x = At(v, pointer);
  return x.is_array() ? x.as_array().size() : 0;
}

Value StepOf(const Value& run, std::string_view id) {
  const Value* steps = run.Find("steps");
  if (!steps || !steps->is_array()) return Value();
  for (const Value& s : steps->as_array())
    if (const Value* sid = s.Find("id"); sid && sid->is_string() && sid->as_string() == id)
      return s;
  return Value();
}

RunId IdOf(const Value& run) {
  auto id = rf::engine::ParseRunId(Str(run, "/id"));
  if (!id) {
    FAIL_CHECK("run without a valid id: " << S(run));
    return RunId{};
  }
  return *id;
}

HttpResult Reply(int status, Value body) {
  return HttpResult{Error{Errc::kOk, {}}, status, std::move(body)};
}

Task<HttpResult> ScriptedHttp::Call(HttpCall call, CancelToken* cancel) {
  Seen seen{call.method, call.url, call.body, {}, {}};
  for (const auto& [name, value] : call.headers) {
    if (name == "Idempotency-Key") seen.idempotency_key = value;
    if (name == "Content-Type") seen.content_type = value;
  }
  calls.push_back(std::move(seen));
  if (block) {
    ++in_flight;
    const bool fired = co_await UntilFired(cancel, block_limit ? MonoNow() + block_limit : 0);
    --in_flight;
    if (fired) {
      ++cancels;
      co_return HttpResult{Error{Errc::kCancelled, "cancelled"}, 0, Value()};
    }
  }
  if (script.empty()) co_return otherwise;
  HttpResult r = std::move(script.front());
  script.pop_front();
  co_return r;
}

std::string ScriptedHttp::Origin(std::string_view url) const {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  return std::string(url.substr(0, url.find('/', scheme + 3)));
}

Result<std::string> ScriptedHttp::Secret(std::string_view ns, std::string_view name) {
  auto it = secrets.find(std::string(ns) + "/" + std::string(name));
  if (it == secrets.end())
    return Error{Errc::kNotFound, "secret '" + std::string(name) + "' is not set"};
  return it->second;
}

Ctx::Ctx(size_t n) : shards(n) {
  options.data_dir = dir.path();
  options.fsync = false;
  for (size_t i = 0; i < n; ++i) http.push_back(std::make_unique<ScriptedHttp>());
}

Ctx* g = nullptr;

void Phase(Ctx& c, Body body) {
  REQUIRE(CheckLayout(c.options.data_dir, c.shards).has_value());
  std::vector<HttpExecutor*> http;
  for (auto& h : c.http) http.push_back(h.get());
  // What serve.cc makes: journals under the data dir, history in RocksDB beside them.
  c.stores = std::make_unique<store::embedded::EmbeddedStoreFactory>(
      c.options.data_dir, c.options.fsync,
      std::make_unique<store::history::EmbeddedHistoryStore>(store::history::EmbeddedHistoryOptions{
          c.options.data_dir + "/history", c.options.fsync, c.options.history_cache / 2,
          c.inline_page_cache}));
  c.engine = std::make_unique<Engine>(c.shards, c.options, http, c.stores.get());
  c.body = body;
  c.open_error.clear();
  g = &c;
  rf::test::RunOnReactor(c.shards, [](reactor::Reactor&) -> Task<void> { co_await Drive(); });
  CHECK_MESSAGE(c.open_error.empty(), c.open_error);
  c.engine.reset();
  c.stores.reset();
}

Task<bool> Register(Engine* e, std::string name, std::string source) {
  auto r = co_await e->Put(name, source);  // suspends
  if (!r) {
    FAIL_CHECK("Put " << name << ": " << r.error().ToString());
    co_return false;
  }
  if (!r->compiled.errors.empty()) {
    FAIL_CHECK("Put " << name << ": " << r->compiled.errors[0].pointer << " "
                      << r->compiled.errors[0].message);
    co_return false;
  }
  CHECK(r->version >= 1);
  co_return true;
}

Task<Result<RunView>> Start(Engine* e, std::string workflow, Value input, Nanos wait,
                            std::string key, int shard) {
  const auto* def = Coordinator::Local().registry().Latest(workflow);
  if (!def) co_return Error{Errc::kNotFound, "no workflow " + workflow};
  StartCommand cmd;
  cmd.def = *def;
  cmd.input = std::move(input);
  cmd.wait = wait;
  cmd.idempotency_key = key;
  cmd.partition = shard >= 0 && key.empty() ? PartitionOn(e, static_cast<unsigned>(shard))
                                            : e->PartitionForStart(workflow, key);
  auto op = SubmitTo(e->OwnerOf(cmd.partition), &StartOn, std::move(cmd));
  Result<RunView> r = co_await op;  // suspends
  co_return r;
}

Task<Value> MustStart(Engine* e, std::string workflow, Value input, Nanos wait, std::string key,
                      int shard) {
  Result<RunView> r = co_await Start(e, workflow, std::move(input), wait, key, shard);  // suspends
  if (!r) {
    FAIL_CHECK("Start " << workflow << ": " << r.error().ToString());
    co_return Value();
  }
  co_return J(r->json);
}

Task<Result<Value>> Get(Engine* e, RunId id) {
  auto op = SubmitTo(e->OwnerOf(id), &GetOn, id);
  Result<RunView> r = co_await op;  // suspends
  if (!r) co_return r.error();
  co_return J(r->json);
}

Task<std::string> GetText(Engine* e, RunId id) {
  auto op = SubmitTo(e->OwnerOf(id), &GetOn, id);
  Result<RunView> r = co_await op;  // suspends
  co_return r ? r->json : "error: " + r.error().ToString();
}

Task<Value> WaitStatus(Engine* e, RunId id, std::string status) {
  const Nanos until = MonoNow() + kWait;
  Value last;
  while (true) {
    Result<Value> v = co_await Get(e, id);  // suspends
    if (v) last = std::move(*v);
    if (Str(last, "/status") == status || MonoNow() > until) break;
    co_await Sleep(2 * kMillis);  // suspends
  }
  CHECK_MESSAGE(Str(last, "/status") == status, S(last));
  co_return last;
}

Task<bool> WaitCount(const size_t* counter, size_t n) {
  const Nanos until = MonoNow() + kWait;
  while (*counter < n && MonoNow() < until) co_await Sleep(1 * kMillis);  // suspends
  co_return *counter >= n;
}

Task<Result<RunView>> Cancel(Engine* e, RunId id) { return Command(e, id, 0); }
Task<Result<RunView>> Signal(Engine* e, RunId id, std::string name, Value payload) {
  return Command(e, id, 1, std::move(name), std::move(payload));
}
Task<Result<RunView>> Retry(Engine* e, RunId id) { return Command(e, id, 2); }

Task<std::vector<Value>> List(Engine* e, const RunQuery* q) {
  auto page = co_await e->List(*q);  // suspends
  std::vector<Value> out;
  if (!page) {
    FAIL_CHECK("List: " << page.error().ToString());
    co_return out;
  }
  for (auto& [id, json] : page->runs) out.push_back(J(json));
  co_return out;
}

Task<size_t> RunCount(Engine* e) {
  size_t n = 0;
  for (unsigned i = 0; i < e->shards(); ++i) {
    auto op = SubmitTo(i, &RunCountOn);
    n += co_await op;  // suspends
  }
  co_return n;
}

void CheckError(const Result<RunView>& r, Errc code) {
  CHECK_FALSE(r.has_value());
  if (!r) CHECK(r.error().code == code);
}

const ShardEngineStats& Stats0(Engine* e) { return e->metrics().shards[0]; }

bool HasSnapshot(const std::string& dir) {
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (store::embedded::ParseSnapshotFileName(f.path().filename().string())) return true;
  return false;
}

std::vector<Frame> Frames(std::string_view text) {
  std::vector<Frame> out;
  while (!text.empty()) {
    size_t end = text.find("\n\n");
    CHECK_MESSAGE(end != std::string_view::npos, "a frame without its end: " << text);
    if (end == std::string_view::npos) break;
    std::string_view frame = text.substr(0, end);
    text.remove_prefix(end + 2);
    Frame f;
    while (!frame.empty()) {
      size_t nl = frame.find('\n');
      std::string_view line = frame.substr(0, nl);
      frame = nl == std::string_view::npos ? std::string_view() : frame.substr(nl + 1);
      if (line.starts_with("id: ")) f.seq = std::stoull(std::string(line.substr(4)));
      if (line.starts_with("event: ")) f.type = line.substr(7);
      if (line.starts_with("data: ")) f.data = J(line.substr(6));
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::string> Types(const std::vector<Frame>& frames) {
  std::vector<std::string> out;
  for (const Frame& f : frames) out.push_back(f.type);
  return out;
}

Task<std::string> Collect(std::shared_ptr<Subscriber> s, size_t frames, bool until_end) {
  std::string text;
  const Nanos until = MonoNow() + kWait;
  while (MonoNow() < until) {
    std::vector<rf::fanout::Chunk> got;
    s->TakePending(got);
    text += rf::fanout::Join(got);
    size_t n = 0;
    for (size_t p = text.find("\n\n"); p != std::string::npos; p = text.find("\n\n", p + 2)) ++n;
    if (n >= frames && (!until_end || s->ended())) break;
    co_await Sleep(1 * kMillis);  // suspends
  }
  co_return text;
}

Task<Status> Subscribe(Engine* e, RunId id, uint64_t after, std::shared_ptr<Subscriber> s) {
  auto op = SubmitTo(e->OwnerOf(id), &SubscribeOn, id, after, std::move(s));
  Status st = co_await op;  // suspends
  co_return st;
}

}  // namespace rf::engine::test

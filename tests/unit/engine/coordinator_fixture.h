#pragma once
// An Engine on a temporary directory for the coordinator and history tests. A test makes a Ctx
// and runs one or more phases on it: each opens a fresh Engine on the same directory (so a
// later phase sees what an earlier one left, as after a restart), runs a body on shard 0 of a
// test reactor, and closes the engine. Bodies call the engine as the API does (start, get,
// cancel, signal, retry, list, subscribe), on the run's owner shard; every HTTP call goes to
// the ScriptedHttp of the shard that makes it. The coroutines below suspend, all on shard 0.

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "engine/engine.h"
#include "engine/executor.h"
#include "fanout/subscriber.h"
#include "json/value.h"
#include "reactor/cancel_token.h"
#include "reactor/submit_to.h"
#include "reactor/task.h"
#include "store/store.h"
#include "test_support.h"

namespace rf::engine::test {

using fanout::Subscriber;
using json::Value;
using reactor::CancelToken;
using reactor::Sleep;
using reactor::SubmitTo;
using reactor::Task;

inline constexpr Nanos kWait = 10 * kSeconds;  // bound of every wait in these tests

// --- reading a run's JSON ------------------------------------------------------

// Parses `text` with the limits of a run's JSON (values nested up to the limit); null, after a
// failed check, when it is not JSON.
Value J(std::string_view text);
std::string S(const Value& v);
// The value at `pointer` (RFC 6901), or null when there is none.
Value At(const Value& v, std::string_view pointer);
// The string, int or array size at `pointer`; "<json>", -1 or 0 when it is not one.
std::string Str(const Value& v, std::string_view pointer);
int64_t Int(const Value& v, std::string_view pointer);
size_t Size(const Value& v, std::string_view pointer);
// The step with id `id` from a run's JSON (null when absent).
Value StepOf(const Value& run, std::string_view id);
RunId IdOf(const Value& run);

// --- a scripted http executor --------------------------------------------------

HttpResult Reply(int status, Value body = Value());

// Answers from `script` in order, then with `otherwise`; or, when `block` is set, waits until
// the coordinator fires the call's CancelToken (or, with a `block_limit`, until that passes, and
// then answers). Touched only on its shard.
class ScriptedHttp : public HttpExecutor {
 public:
  struct Seen {
    std::string method;
    std::string url;
    std::string body;
    std::string idempotency_key;
    std::string content_type;
  };

  Task<HttpResult> Call(HttpCall call, CancelToken* cancel) override;
  // Scheme and authority, as written (the real executor normalises them; the tests' URLs are).
  std::string Origin(std::string_view url) const override;
  Result<std::string> Secret(std::string_view ns, std::string_view name) override;

  std::map<std::string, std::string> secrets;  // "<ns>/<name>" -> value
  std::deque<HttpResult> script;
  HttpResult otherwise = Reply(200, J(R"({"ok":true})"));
  bool block = false;
  Nanos block_limit = 0;
  std::vector<Seen> calls;
  size_t in_flight = 0;
  size_t cancels = 0;
};

// --- one engine per phase ------------------------------------------------------

using Body = Task<void> (*)(Engine*);

// Shared with the reactor bodies, which cannot capture.
struct Ctx {
  explicit Ctx(size_t n);
  ScriptedHttp& http0() { return *http[0]; }

  rf::test::TempDir dir{"rf-coordinator"};
  size_t shards;
  EngineOptions options;
  std::vector<std::unique_ptr<ScriptedHttp>> http;  // one per shard
  std::unique_ptr<store::StoreFactory> stores;
  std::unique_ptr<Engine> engine;
  Body body = nullptr;
  std::string open_error;
  Nanos close_took = 0;
  bool inline_page_cache = true;  // false: a read on a shard stops at RocksDB's block cache

  // What a phase hands to the next.
  std::vector<std::string> ids;
  std::vector<std::string> jsons;
  std::string key;
};
extern Ctx* g;  // the context of the phase that runs

// Opens a fresh Engine on the context's directory, runs `body` on shard 0, closes it.
void Phase(Ctx& c, Body body);

// --- the client side, on shard 0 -----------------------------------------------

Task<bool> Register(Engine* e, std::string name, std::string source);

// Starts a run of the latest `workflow` as the API does; `shard` >= 0 (and no key) places it on
// that shard.
Task<Result<RunView>> Start(Engine* e, std::string workflow, Value input, Nanos wait = 0,
                            std::string key = "", int shard = -1);
// Start that must succeed: the run's JSON, or null (after a failed check).
Task<Value> MustStart(Engine* e, std::string workflow, Value input, Nanos wait = 0,
                      std::string key = "", int shard = -1);

Task<Result<Value>> Get(Engine* e, RunId id);
// The run's JSON as its owner answers it, or "error: ...".
Task<std::string> GetText(Engine* e, RunId id);
// Polls the run until its status is `status` (at most kWait); returns what it saw last.
Task<Value> WaitStatus(Engine* e, RunId id, std::string status);
// Polls until `*counter` reaches `n` (at most kWait).
Task<bool> WaitCount(const size_t* counter, size_t n);

Task<Result<RunView>> Cancel(Engine* e, RunId id);
Task<Result<RunView>> Signal(Engine* e, RunId id, std::string name, Value payload);
Task<Result<RunView>> Retry(Engine* e, RunId id);
void CheckError(const Result<RunView>& r, Errc code);

// A listing as the API makes it: every shard's memory and the history store, newest first.
// The query by pointer: GCC 12 mis-copies a class-type argument into this coroutine's frame
// (ASan reports a bad free of the string's inline buffer); a pointer sidesteps it.
Task<std::vector<Value>> List(Engine* e, const RunQuery* q);
inline const RunQuery kAnyRun{};

// Runs held in memory, over every shard.
Task<size_t> RunCount(Engine* e);
const ShardEngineStats& Stats0(Engine* e);

// Whether `dir` (a shard's journal) holds a snapshot.
bool HasSnapshot(const std::string& dir);

// --- events --------------------------------------------------------------------

struct Frame {
  uint64_t seq = 0;
  std::string type;
  Value data;
};

// The SSE frames in `text`, each ended by a blank line.
std::vector<Frame> Frames(std::string_view text);
std::vector<std::string> Types(const std::vector<Frame>& frames);

// Collects what reaches `s` (on this, its home shard) until it holds `frames` frames (and, if
// `until_end`, the stream ended), at most kWait.
Task<std::string> Collect(std::shared_ptr<Subscriber> s, size_t frames, bool until_end);
Task<Status> Subscribe(Engine* e, RunId id, uint64_t after, std::shared_ptr<Subscriber> s);

// --- workflows used by several files -------------------------------------------

inline constexpr std::string_view kChain = R"({"name":"chain","steps":[
  {"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]},
  {"id":"c","type":"noop","depends_on":["b"]}]})";

// One http step; tiny backoff so retries take milliseconds.
inline constexpr std::string_view kHttp = R"({"name":"h",
  "retry":{"max_attempts":3,"initial_ms":1,"max_ms":5,"jitter":0},
  "steps":[{"id":"call","type":"http","request":{"method":"POST",
    "url":"http://127.0.0.1:9/orders/{{input.id}}","body":{"order":"{{input.id}}"}}}]})";

inline constexpr std::string_view kApproval = R"({"name":"approve","steps":[
  {"id":"approve","type":"approval"},{"id":"after","type":"noop","depends_on":["approve"]}]})";

}  // namespace rf::engine::test

#include "cli/watch.h"

#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli/progress.h"
#include "cli/sse.h"
#include "json/parse.h"

namespace rf::cli {
namespace {

constexpr Nanos kTick = 200 * kMillis;       // live redraw interval
constexpr Nanos kQuietLimit = 45 * kSeconds;  // three missed heartbeats

// The live block on a terminal: redrawn in place (cursor up over the previous block, clear).
class LiveBlock {
 public:
  explicit LiveBlock(const Session& s) : style_{s.color, s.utf8, s.columns} {}

  void Draw(const json::Value& run) {
    std::string text = RenderProgress(run, NowMs(), style_);
    std::string out;
    if (lines_ > 0) out += "\x1b[" + std::to_string(lines_) + "F\x1b[J";
    out += text;
    lines_ = 0;
    for (char c : text) lines_ += c == '\n';
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  ProgressStyle style_;
  int lines_ = 0;
};

struct Follower {
  Session& s;
  const std::string& id;
  FollowMode mode;
  Answer run;  // the latest GET of the run
  LiveBlock live;
  std::string last_event_id;

  // GET the run; kExitOk or the failure's exit status (reported).
  int Refresh() {
    Answer a;
    int rc = Call(s, "GET", "/v1/runs/" + Escape(id), {}, a);
    if (rc == kExitOk) run = std::move(a);
    return rc;
  }

  bool Finished() const { return IsTerminal(Str(run.json, "status")); }

  void Show(const std::vector<SseEvent>& events) {
    for (const SseEvent& e : events) {
      if (mode == FollowMode::kJsonLines) {
        PrintJson(e.data);
      } else if (mode == FollowMode::kLines) {
        auto v = json::Parse(e.data, {.max_bytes = 64 << 20, .max_depth = 1024});
        std::printf("%s\n", v ? EventLine(*v).c_str() : ("(unreadable event) " + e.data).c_str());
      }
    }
    if (mode == FollowMode::kJsonLines || mode == FollowMode::kLines) std::fflush(stdout);
  }

  // Reads one opened stream to its end. Returns kExitOk when the stream ended or broke (the
  // caller decides what next), or a failure's exit status. `news`: whether events came.
  int Drain(EventStream& stream, bool& news) {
    SseParser parser;
    std::string bytes;
    Nanos quiet_since = MonoNow();
    for (;;) {
      bytes.clear();
      auto r = stream.Read(bytes, mode == FollowMode::kLive ? kTick : 5 * kSeconds);
      if (!r && r.error().code != Errc::kTimeout) return kExitOk;  // broken: reconnect
      std::vector<SseEvent> events;
      if (!bytes.empty()) {
        quiet_since = MonoNow();  // heartbeats count as life too
        if (!parser.Feed(bytes, events)) {
          std::fprintf(stderr, "ringflow: the event stream sent an over-long line\n");
          return kExitUnreachable;
        }
      }
      if (!events.empty()) {
        news = true;
        if (!parser.last_id().empty()) last_event_id = parser.last_id();
        Show(events);
        if (mode == FollowMode::kLive)
          if (int rc = Refresh(); rc != kExitOk) return rc;
      }
      if (mode == FollowMode::kLive) live.Draw(run.json);
      if (r && !*r) return kExitOk;  // the daemon ended the stream
      if (MonoNow() - quiet_since > kQuietLimit) return kExitOk;
    }
  }

  int Poll() {
    while (!Finished()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (int rc = Refresh(); rc != kExitOk) return rc;
      if (mode == FollowMode::kLive) live.Draw(run.json);
    }
    return kExitOk;
  }

  int Run() {
    if (int rc = Refresh(); rc != kExitOk) return rc;
    if (mode == FollowMode::kLive) live.Draw(run.json);
    int failures = 0;
    for (;;) {
      auto stream = s.api->Stream("/v1/runs/" + Escape(id) + "/events", last_event_id);
      bool news = false;
      if (stream && stream->status() == 503) {
        if (int rc = Poll(); rc != kExitOk) return rc;
        break;
      }
      if (stream && stream->status() != 200) {
        Answer a;
        a.status = stream->status();
        a.body = stream->error_body();
        if (auto v = json::Parse(a.body); v) a.json = std::move(*v);
        ReportServerError(s, a);
        return kExitServerError;
      }
      if (stream) {
        if (int rc = Drain(*stream, news); rc != kExitOk) return rc;
      }
      // Ended or broken: finished, or go on from the last event.
      if (int rc = Refresh(); rc != kExitOk) return rc;
      if (Finished()) break;
      failures = news ? 0 : failures + 1;
      if (failures > kMaxReconnects) {
        std::fprintf(stderr, "ringflow: lost the event stream of run %s (%s)\n", id.c_str(),
                     stream ? "it keeps ending" : stream.error().context.c_str());
        return kExitUnreachable;
      }
      if (!news) std::this_thread::sleep_for(std::chrono::milliseconds(500 * failures));
    }
    if (mode == FollowMode::kLive) live.Draw(run.json);
    if (mode == FollowMode::kLive || mode == FollowMode::kLines) {
      std::printf("%s\n", Summary(run.json).c_str());
      std::fflush(stdout);
    }
    return Str(run.json, "status") == "succeeded" ? kExitOk : kExitRunFailed;
  }
};

}  // namespace

int Follow(Session& s, const std::string& id, FollowMode mode, Answer& final_run) {
  Follower f{s, id, mode, {}, LiveBlock(s), {}};
  int rc = f.Run();
  final_run = std::move(f.run);
  return rc;
}

}  // namespace rf::cli

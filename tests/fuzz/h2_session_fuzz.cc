// libFuzzer target for the HTTP/2 input path: h2::Session (nghttp2 callbacks, request assembly,
// routing, response submission, stream bookkeeping). Run: tools/fuzz.sh h2 60
//
// The input is fed after a valid client preface, in pieces whose sizes come from the input
// itself, with the session's output produced (and dropped) between pieces as a connection's
// writer would. The router has a sync route, a 405 path, and an "async" route the host answers
// at once — plainly, or as a streamed body in several pushes, or aborted — so every response
// path runs without a reactor. After the bytes: Tick past every timeout, a graceful Shutdown,
// and AbortAll, each followed by Produce; the session must never crash, leak (ASan), or
// produce output after Done().

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/h2/session.h"
#include "http/handler.h"
#include "http/router.h"

namespace {

using namespace rf::http;

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

void Hello(void*, RequestContext& rc) {
  rc.resp.status = 200;
  rc.resp.body.Append("{\"hello\":");
  rc.resp.body.AppendUnsigned(rc.req.body.size());
  rc.resp.body.Append("}");
  rc.resp.AddHeader("X-Thing", "1");
  rc.resp.AddHeader("Connection", "close");  // must be dropped for HTTP/2
}

// Never called (FuzzHost answers async routes itself); not a coroutine, so no reactor is needed.
rf::reactor::Task<void> NeverRun(void*, RequestContext&) { std::abort(); }

const Router<Endpoint>& TestRouter() {
  static const auto* router = [] {
    auto* r = new Router<Endpoint>();
    r->Add(Method::kGet, "/", Endpoint{&Hello, nullptr, nullptr, 1});
    r->Add(Method::kPost, "/", Endpoint{&Hello, nullptr, nullptr, 1});
    r->Add(Method::kGet, "/a/{x}", Endpoint{nullptr, &NeverRun, nullptr, 2});
    return r;
  }();
  return *router;
}

// Answers "async" requests inline, choosing the way from the path's last byte.
class FuzzHost final : public h2::SessionHost {
 public:
  void StartAsync(h2::H2Stream* s, const Endpoint*) override {
    pending_.push_back(s);
  }
  void Resume(std::coroutine_handle<>) override {}
  void WakeWriter() override {}
  void AbortHandler(h2::H2Stream*) override { FUZZ_CHECK(false); }  // no Stream here

  void RunPending(h2::Session& session) {
    std::vector<h2::H2Stream*> now;
    now.swap(pending_);
    for (h2::H2Stream* s : now) {
      const char mode = s->rq->req.path.empty() ? 'x' : s->rq->req.path.back();
      s->resp.status = 200;
      s->resp.content_type = "text/event-stream";
      if (mode == 's' || mode == 'b' || mode == 'h') {  // a streamed body, maybe aborted
        session.StartStream(s);
        // Pushes as api/events.cc's Send does: parts read in place (views into frames that
        // outlive the stream here), once also beside bytes in the body.
        static const std::string_view kParts[] = {"id: 1\n", "data: x\n\n", "", "data: y\n\n"};
        for (int i = 0; i < 3; ++i) {
          if (i != 1) s->body.Append("data: x\n\n");
          if (i != 0 && !s->HasOutput()) s->parts = kParts;
          session.PushBody(s);
        }
        if (mode == 'b') session.AbortStream(s);
        session.FinishAsync(s, true, mode == 'b');
      } else {
        s->resp.body.Append("{}");
        session.FinishAsync(s, false, false);
      }
    }
  }
  bool idle() const { return pending_.empty(); }

 private:
  std::vector<h2::H2Stream*> pending_;
};

HttpStats& Stats() {
  static auto* s = new HttpStats();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> names = {"-", "/", "/a/{x}"};
  h2::SessionOptions opt;
  opt.router = &TestRouter();
  opt.route_names = &names;
  opt.limits.max_head = 2048;
  opt.limits.max_body = 4096;
  opt.max_streams = 8;
  FuzzHost host;
  rf::Buffer out;
  {
    h2::Session session(opt, &Stats(), &host);
    bool ok = session.Receive(h2::kClientPreface);
    FUZZ_CHECK(ok);
    std::string_view in(reinterpret_cast<const char*>(data), size);
    while (ok && !in.empty()) {
      const size_t piece = std::min<size_t>(in.size(), 1 + static_cast<uint8_t>(in.front()) * 4);
      ok = session.Receive(in.substr(0, piece));
      in.remove_prefix(piece);
      host.RunPending(session);
      out.Clear();
      if (!session.Produce(out, 1 << 16)) break;
    }
    session.Tick(rf::MonoNow() + 3600 * rf::kSeconds);
    host.RunPending(session);
    out.Clear();
    session.Produce(out, 1 << 20);
    session.Shutdown();
    out.Clear();
    session.Produce(out, 1 << 20);
    if (session.Done()) {
      out.Clear();
      session.Produce(out, 1 << 20);
      FUZZ_CHECK(out.empty());
    }
    session.AbortAll();
    FUZZ_CHECK(host.idle());
  }
  return 0;
}

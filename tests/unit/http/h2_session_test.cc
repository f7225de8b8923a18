// h2::Session's output scheduling, without sockets: a server session and an nghttp2 client
// session exchange bytes in memory. Many event streams on one connection, each with a long
// streamed body handed over as parts (views into shared chunks, as api/events.cc does), must
// share the connection's output round-robin: in every stretch of output each stream with data
// gets its turn, none waits for another to finish (issue 13). Their requests were given back
// (ReleaseRequest) before, as an event stream's is.

#include <doctest/doctest.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/h2/session.h"
#include "http/handler.h"
#include "http/router.h"

namespace rf::http {
namespace {

reactor::Task<void> NeverRun(void*, RequestContext&) { co_return; }

class Host final : public h2::SessionHost {
 public:
  void StartAsync(h2::H2Stream* s, const Endpoint*) override { started.push_back(s); }
  void Resume(std::coroutine_handle<>) override {}
  void WakeWriter() override {}
  void AbortHandler(h2::H2Stream*) override {}
  std::vector<h2::H2Stream*> started;
};

struct Client {
  Client() {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &OnData);
    nghttp2_session_client_new(&ng, cb, this);
    nghttp2_session_callbacks_del(cb);
    // Windows far above what the test sends: flow control is not what orders the output.
    const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
    nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, 1 << 30);
  }
  ~Client() { nghttp2_session_del(ng); }
  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
    static_cast<Client*>(u)->got[id].append(reinterpret_cast<const char*>(d), n);
    return 0;
  }
  std::string Output() {
    std::string out;
    const uint8_t* p;
    for (ssize_t n; (n = nghttp2_session_mem_send(ng, &p)) > 0;)
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    return out;
  }
  nghttp2_session* ng = nullptr;
  std::map<int32_t, std::string> got;
};

TEST_SUITE("http.h2_session") {
TEST_CASE("event streams on one connection share its output round-robin, bodies intact") {
  Router<Endpoint> router;
  router.Add(Method::kGet, "/events", Endpoint{nullptr, &NeverRun, nullptr, 1});
  const std::vector<std::string> names = {"-", "/events"};
  h2::SessionOptions opt;
  opt.router = &router;
  opt.route_names = &names;
  opt.limits.max_head = 8192;
  opt.limits.max_body = 4096;
  opt.max_streams = 100;
  HttpStats stats;
  Host host;
  h2::Session session(opt, &stats, &host);
  Client client;

  constexpr int kStreams = 40;
  const nghttp2_nv nv[] = {
      {(uint8_t*)":method", (uint8_t*)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)":path", (uint8_t*)"/events", 5, 7, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)":scheme", (uint8_t*)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)":authority", (uint8_t*)"x", 10, 1, NGHTTP2_NV_FLAG_NONE},
  };
  for (int i = 0; i < kStreams; ++i)
    REQUIRE(nghttp2_submit_request(client.ng, nullptr, nv, 4, nullptr, nullptr) > 0);
  const std::string hello = client.Output();  // nghttp2's client starts with the preface itself
  REQUIRE(std::string_view(hello).starts_with(h2::kClientPreface));
  REQUIRE(session.Receive(hello));
  REQUIRE(host.started.size() == kStreams);

  // Every stream's body: 200 shared "frames" of ~1 KiB, as parts (views, no copy).
  std::vector<std::string> chunks;
  for (int k = 0; k < 200; ++k)
    chunks.push_back("id: " + std::to_string(k) + "\ndata: " + std::string(1000, 'a' + k % 26) + "\n\n");
  const std::vector<std::string_view> parts(chunks.begin(), chunks.end());
  std::string want;
  for (const std::string& c : chunks) want += c;
  for (h2::H2Stream* s : host.started) {
    s->resp.status = 200;
    s->resp.content_type = "text/event-stream";
    session.StartStream(s);
    session.ReleaseRequest(s);  // as an event stream does once its head is out
    CHECK(s->rq == nullptr);     // its header table went back: an idle stream holds none
    s->parts = parts;
    session.PushBody(s);
  }

  // Small output turns (as a writer's batches): after each, no stream is more than one DATA
  // frame (16 KiB) ahead of another, until they are done.
  Buffer out;
  size_t turns = 0;
  while (true) {
    out.Clear();
    REQUIRE(session.Produce(out, 32 * 1024));
    if (out.empty()) break;
    ++turns;
    REQUIRE(nghttp2_session_mem_recv(client.ng, reinterpret_cast<const uint8_t*>(out.data()),
                                     out.size()) == static_cast<ssize_t>(out.size()));
    REQUIRE(session.Receive(client.Output()));
    size_t lo = SIZE_MAX, hi = 0;
    for (h2::H2Stream* s : host.started) {
      const size_t n = client.got[s->id].size();
      lo = std::min(lo, n);
      hi = std::max(hi, n);
    }
    INFO("turn " << turns << ": per-stream bytes " << lo << ".." << hi);
    CHECK(hi - lo <= 16384);
  }
  CHECK(turns > kStreams);  // many turns: the order was really exercised
  for (h2::H2Stream* s : host.started) {
    CHECK(client.got[s->id] == want);  // every byte, in order, from the parts in place
    CHECK_FALSE(s->HasOutput());
  }
}
}

}  // namespace
}  // namespace rf::http

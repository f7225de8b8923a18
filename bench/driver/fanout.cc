// rf-fanout: the SSE subscriber driver of bench/fanout.sh.
//
// Opens --subscribers HTTP/1.1 connections to 127.0.0.1:--port, each bound to one of --sources
// loopback source addresses (127.0.0.2 and up: one address has ~28k ephemeral ports), sends
// GET --path on each, and counts the event frames every connection receives. Connections are
// spread over --threads epoll loops. Once every connection has its 200 head it prints
// `ready connected=N` (and creates --ready-file), then:
//   --hold S      keeps the connections open, idle, for S seconds (the script measures RSS);
//   --duration S  counts frames for S seconds: deliveries/s and latency = receive time minus the
//                 "at_ms" of the event's data (the daemon's clock: same host, CLOCK_REALTIME).
// --h2-streams K: HTTP/2 with prior knowledge instead, K streams (subscribers) per connection
// (nghttp2's client session; the daemon allows --http2-max-streams, default 100).
// --produce-path/--produce-rate: one more thread POSTs --produce-body to that path at that rate
// (runs whose events the subscribers receive) during --duration, over one keep-alive connection.
//
// Final line on stdout:
//   subscribers=N connected=N failed=N deliveries=N seconds=S rate=R p50_ms=X p99_ms=X max_ms=X
//   min_per_sub=N max_per_sub=N closed=N produced=N cpu_pct=P (the driver's, over the window)
// min/max_per_sub: event frames one subscriber (connection or HTTP/2 stream) received, fewest and
// most; every subscriber should get every event, so they differ by the events in flight at the
// end unless one was cut off. closed: subscribers the server closed (HTTP/1.1) or whose HTTP/2
// stream it ended or reset (RST_STREAM), e.g. cut off at --sse-buffer.
// Only 127.0.0.1 is ever connected to.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Options {
  int port = 0;
  std::string path;
  std::vector<std::string> headers;
  int subscribers = 1000;
  int sources = 1;
  int threads = 1;
  double hold = 0;
  double duration = 0;
  std::string ready_file;
  std::string produce_path;
  std::string produce_body = "{}";
  double produce_rate = 0;
  int h2_streams = 0;  // > 0: HTTP/2 (prior knowledge), this many streams per connection
};

constexpr int kMaxLatencyMs = 120000;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}
double Mono() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// One subscriber: an HTTP/1.1 connection, or one stream of an HTTP/2 connection.
struct Sub {
  bool head = false;  // the response head was read (a 200)
  bool ended = false;  // HTTP/2: the server ended or reset the stream (counted in `closed`)
  uint64_t frames = 0;
  std::string carry;  // an incomplete frame (or head) from the last read
};

struct Worker;
struct Conn {
  int fd = -1;
  bool connected = false;
  bool dead = false;
  int first_sub = 0;  // its subscribers: [first_sub, first_sub + streams)
  nghttp2_session* h2 = nullptr;
  std::string out;  // HTTP/2 bytes the socket did not take yet
  Worker* w = nullptr;
};

std::atomic<int> g_ready{0};
std::atomic<int> g_failed{0};
std::atomic<bool> g_measuring{false};
std::atomic<bool> g_stop{false};

struct Worker {
  const Options* o;
  int first = 0, count = 0;  // connections [first, first + count) of the whole run
  std::vector<Conn> conns;
  std::vector<Sub> subs;
  std::vector<uint64_t> hist = std::vector<uint64_t>(kMaxLatencyMs + 1, 0);
  uint64_t deliveries = 0;
  int closed = 0;
  int failed_subs = 0;
  std::string request;
  int per_conn = 1;

  void Frame(Sub& c, std::string_view frame) {
    const size_t d = frame.find("data: ");
    if (d == std::string_view::npos) return;  // a comment (heartbeat)
    ++c.frames;
    if (!g_measuring.load(std::memory_order_relaxed)) return;
    ++deliveries;
    const size_t a = frame.find("\"at_ms\":", d);
    if (a == std::string_view::npos) return;
    int64_t at = 0;
    const char* p = frame.data() + a + 8;
    std::from_chars(p, frame.data() + frame.size(), at);
    const int64_t lat = std::clamp<int64_t>(NowMs() - at, 0, kMaxLatencyMs);
    ++hist[static_cast<size_t>(lat)];
  }

  // Body bytes of one subscriber (for HTTP/1.1, the head first).
  bool Body(Sub& c, std::string_view in, bool with_head) {
    c.carry.append(in);
    std::string_view s = c.carry;
    if (with_head && !c.head) {
      const size_t e = s.find("\r\n\r\n");
      if (e == std::string_view::npos) return true;
      if (!s.starts_with("HTTP/1.1 200")) {
        std::fprintf(stderr, "rf-fanout: %.*s\n", static_cast<int>(std::min<size_t>(e, 200)), s.data());
        return false;
      }
      c.head = true;
      g_ready.fetch_add(1);
      s.remove_prefix(e + 4);
    }
    for (size_t e = s.find("\n\n"); e != std::string_view::npos; e = s.find("\n\n")) {
      Frame(c, s.substr(0, e));
      s.remove_prefix(e + 2);
    }
    c.carry.erase(0, c.carry.size() - s.size());
    if (c.carry.capacity() > 4096 && c.carry.size() < 1024) c.carry.shrink_to_fit();
    return true;
  }

  void Kill(Conn& c, bool failed) {
    if (c.dead) return;
    c.dead = true;
    ::close(c.fd);
    if (c.h2) nghttp2_session_del(c.h2);
    c.h2 = nullptr;
    for (int i = c.first_sub; i < c.first_sub + per_conn; ++i) {
      if (subs[static_cast<size_t>(i)].ended) continue;  // counted when its stream closed
      if (failed || !subs[static_cast<size_t>(i)].head) {
        g_failed.fetch_add(1);
      } else {
        ++closed;
      }
    }
  }

  // --- HTTP/2 (nghttp2's client session; it acknowledges DATA with WINDOW_UPDATEs itself) ---
  static Sub* StreamSub(Conn* c, int32_t stream_id) {
    const int k = (stream_id - 1) / 2;
    if (stream_id <= 0 || k >= c->w->per_conn) return nullptr;
    return &c->w->subs[static_cast<size_t>(c->first_sub + k)];
  }
  static int OnHeader(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto* c = static_cast<Conn*>(user);
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    Sub* s = StreamSub(c, f->hd.stream_id);
    if (!s || std::string_view(reinterpret_cast<const char*>(name), namelen) != ":status") return 0;
    if (std::string_view(reinterpret_cast<const char*>(value), valuelen) == "200" && !s->head) {
      s->head = true;
      g_ready.fetch_add(1);
    }
    return 0;
  }
  static int OnData(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user) {
    auto* c = static_cast<Conn*>(user);
    if (Sub* s = StreamSub(c, stream_id))
      c->w->Body(*s, std::string_view(reinterpret_cast<const char*>(data), len), false);
    return 0;
  }
  // A stream the server reset (RST_STREAM: an event stream cut off at --sse-buffer or stalled)
  // or ended: counted in `closed`, so a subscriber that stops receiving is never silent here.
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
    auto* c = static_cast<Conn*>(user);
    Sub* s = StreamSub(c, stream_id);
    if (!s || s->ended) return 0;
    s->ended = true;
    if (s->head) {
      ++c->w->closed;
    } else {
      g_failed.fetch_add(1);
    }
    return 0;
  }
  bool H2Flush(Conn& c) {
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(c.h2, &data);
      if (n < 0) return false;
      if (n == 0) break;
      c.out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    while (!c.out.empty()) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // the rest with the next event
      c.out.erase(0, static_cast<size_t>(n));
    }
    return true;
  }
  bool H2Start(Conn& c) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &OnStreamClose);
    nghttp2_session_client_new(&c.h2, cb, &c);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(c.h2, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c.h2, NGHTTP2_FLAG_NONE, 0, 1 << 26);
    auto nv = [](const char* n, const std::string& v) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), std::strlen(n), v.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    static const std::string get = "GET", http = "http", auth = "bench", accept = "text/event-stream";
    std::vector<nghttp2_nv> hdrs = {nv(":method", get), nv(":scheme", http), nv(":authority", auth),
                                    nv(":path", o->path), nv("accept", accept)};
    std::vector<std::string> extra;  // "K: V" headers, lower-cased names
    extra.reserve(o->headers.size() * 2);
    for (const std::string& h : o->headers) {
      const size_t colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string k = h.substr(0, colon);
      for (char& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      extra.push_back(k);
      extra.push_back(h.substr(h.find_first_not_of(' ', colon + 1)));
    }
    for (size_t i = 0; i + 1 < extra.size(); i += 2) {
      hdrs.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(extra[i].data()),
                                reinterpret_cast<uint8_t*>(extra[i + 1].data()), extra[i].size(),
                                extra[i + 1].size(), NGHTTP2_NV_FLAG_NONE});
    }
    for (int k = 0; k < per_conn; ++k)
      if (nghttp2_submit_request(c.h2, nullptr, hdrs.data(), hdrs.size(), nullptr, nullptr) < 0) return false;
    return H2Flush(c);
  }

  bool Open(int ep, int i) {
    Conn& c = conns[static_cast<size_t>(i - first)];
    c.w = this;
    c.first_sub = (i - first) * per_conn;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      std::perror("rf-fanout: socket");
      c.dead = true;
      g_failed.fetch_add(per_conn);
      return false;
    }
    const int one = 1;
    ::setsockopt(c.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // The port is picked at connect (by the whole 4-tuple), not at bind: bind() with port 0
    // would search the source address's ports one socket at a time and run out at ~28k.
    ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002u + static_cast<uint32_t>(i % o->sources));
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      std::perror("rf-fanout: bind");
      Kill(c, true);
      return false;
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(o->port));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
      std::perror("rf-fanout: connect");
      Kill(c, true);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(i - first);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void Run() {
    per_conn = o->h2_streams > 0 ? o->h2_streams : 1;
    conns.resize(static_cast<size_t>(count));
    subs.resize(static_cast<size_t>(count) * static_cast<size_t>(per_conn));
    request = "GET " + o->path + " HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n";
    for (const std::string& h : o->headers) request += h + "\r\n";
    request += "\r\n";
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    int next = first, pending = 0;  // connects not yet answered (kept under the accept backlog)
    std::vector<epoll_event> evs(1024);
    std::vector<char> buf(1 << 16);
    while (!g_stop.load(std::memory_order_relaxed)) {
      while (next < first + count && pending < 256) {
        if (Open(ep, next)) ++pending;
        ++next;
      }
      const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
      for (int k = 0; k < n; ++k) {
        Conn& c = conns[evs[static_cast<size_t>(k)].data.u32];
        if (c.dead) continue;
        const uint32_t e = evs[static_cast<size_t>(k)].events;
        if (!c.connected && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
          --pending;
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          const bool sent = err == 0 && (o->h2_streams > 0 ? H2Start(c)
                                                              : ::send(c.fd, request.data(), request.size(),
                                                                       MSG_NOSIGNAL) ==
                                                                    static_cast<ssize_t>(request.size()));
          if (!sent) {
            Kill(c, true);
            continue;
          }
          c.connected = true;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.u32 = evs[static_cast<size_t>(k)].data.u32;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
        if (!(e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
        for (;;) {
          const ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
          if (r > 0) {
            bool ok;
            if (c.h2) {
              ok = nghttp2_session_mem_recv(c.h2, reinterpret_cast<const uint8_t*>(buf.data()),
                                            static_cast<size_t>(r)) >= 0 &&
                   H2Flush(c);
            } else {
              ok = Body(subs[static_cast<size_t>(c.first_sub)], std::string_view(buf.data(), static_cast<size_t>(r)),
                        true);
            }
            if (!ok) {
              Kill(c, true);
              break;
            }
            if (static_cast<size_t>(r) < buf.size()) break;
            continue;
          }
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          Kill(c, false);
          break;
        }
      }
    }
    for (Conn& c : conns)
      if (!c.dead && c.fd >= 0) {
        ::close(c.fd);
        if (c.h2) nghttp2_session_del(c.h2);
      }
    ::close(ep);
  }
};

// POSTs at the rate asked over one blocking keep-alive connection (a new one if it closes).
void Produce(const Options& o, std::atomic<uint64_t>& produced) {
  std::string req = "POST " + o.produce_path + " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n";
  for (const std::string& h : o.headers) req += h + "\r\n";
  req += "Content-Length: " + std::to_string(o.produce_body.size()) + "\r\n\r\n" + o.produce_body;
  int fd = -1;
  const double t0 = Mono();
  std::string in;
  char buf[8192];
  for (uint64_t i = 0; !g_stop.load(); ++i) {
    const double due = t0 + static_cast<double>(i) / o.produce_rate;
    const double now = Mono();
    if (due > now) usleep(static_cast<useconds_t>((due - now) * 1e6));
    if (g_stop.load()) break;
    if (fd < 0) {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in dst{};
      dst.sin_family = AF_INET;
      dst.sin_port = htons(static_cast<uint16_t>(o.port));
      dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
        ::close(fd);
        fd = -1;
        continue;
      }
    }
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      ::close(fd);
      fd = -1;
      continue;
    }
    // One response: its head, then Content-Length bytes.
    in.clear();
    size_t need = std::string::npos;
    bool ok = false;
    while (true) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) break;
      in.append(buf, static_cast<size_t>(r));
      const size_t e = in.find("\r\n\r\n");
      if (e == std::string::npos) continue;
      if (need == std::string::npos) {
        const size_t cl = in.find("Content-Length: ");
        size_t len = 0;
        if (cl != std::string::npos && cl < e) std::from_chars(in.data() + cl + 16, in.data() + e, len);
        need = e + 4 + len;
      }
      if (in.size() >= need) {
        ok = in.starts_with("HTTP/1.1 20");
        break;
      }
    }
    if (ok) {
      produced.fetch_add(1);
    } else {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) ::close(fd);
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "rf-fanout: %s\nusage: rf-fanout --port P --path PATH [--header 'K: V']... [--subscribers N] "
               "[--sources K] [--threads T] [--hold S | --duration S] [--ready-file F] "
               "[--produce-path PATH --produce-rate R [--produce-body JSON]]\n",
               why);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view k = argv[i];
    if (i + 1 >= argc) Usage("a flag without its value");
    const char* v = argv[++i];
    if (k == "--port") o.port = std::atoi(v);
    else if (k == "--path") o.path = v;
    else if (k == "--header") o.headers.emplace_back(v);
    else if (k == "--subscribers") o.subscribers = std::atoi(v);
    else if (k == "--sources") o.sources = std::atoi(v);
    else if (k == "--threads") o.threads = std::atoi(v);
    else if (k == "--hold") o.hold = std::atof(v);
    else if (k == "--duration") o.duration = std::atof(v);
    else if (k == "--ready-file") o.ready_file = v;
    else if (k == "--produce-path") o.produce_path = v;
    else if (k == "--produce-rate") o.produce_rate = std::atof(v);
    else if (k == "--produce-body") o.produce_body = v;
    else if (k == "--h2-streams") o.h2_streams = std::atoi(v);
    else Usage("unknown flag");
  }
  if (o.port <= 0 || o.port > 65535 || o.path.empty() || o.path[0] != '/') Usage("--port and --path are required");
  if (o.subscribers < 1 || o.sources < 1 || o.sources > 250 || o.threads < 1 || o.threads > 64)
    Usage("--subscribers >= 1, --sources 1..250, --threads 1..64");
  if (!o.produce_path.empty() && o.produce_rate <= 0) Usage("--produce-path needs --produce-rate > 0");
  if (o.h2_streams < 0 || o.h2_streams > 10000) Usage("--h2-streams 0..10000");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  std::vector<Worker> workers(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  const int streams = o.h2_streams > 0 ? o.h2_streams : 1;
  const int nconns = (o.subscribers + streams - 1) / streams;  // subscribers rounded up to whole connections
  const int subscribers = nconns * streams;
  const int per = (nconns + o.threads - 1) / o.threads;
  for (int t = 0; t < o.threads; ++t) {
    Worker& w = workers[static_cast<size_t>(t)];
    w.o = &o;
    w.first = t * per;
    w.count = std::max(0, std::min(per, nconns - w.first));
    threads.emplace_back([&w] { w.Run(); });
  }
  // Ready: every connection has its head, or failed (bounded: 120 s).
  const double t_start = Mono();
  while (g_ready.load() + g_failed.load() < subscribers && Mono() - t_start < 120) usleep(20000);
  std::printf("ready connected=%d failed=%d setup_s=%.1f\n", g_ready.load(), g_failed.load(), Mono() - t_start);
  std::fflush(stdout);
  if (!o.ready_file.empty()) {
    if (FILE* f = std::fopen(o.ready_file.c_str(), "w")) std::fclose(f);
  }
  std::atomic<uint64_t> produced{0};
  std::thread producer;
  double seconds = 0;
  auto cpu_now = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  double cpu0 = 0, cpu1 = 0;
  if (o.duration > 0) {
    cpu0 = cpu_now();
    g_measuring.store(true);
    if (!o.produce_path.empty()) producer = std::thread([&] { Produce(o, produced); });
    const double t0 = Mono();
    usleep(static_cast<useconds_t>(o.duration * 1e6));
    g_measuring.store(false);
    seconds = Mono() - t0;
    cpu1 = cpu_now();
  } else {
    usleep(static_cast<useconds_t>(o.hold * 1e6));
  }
  g_stop.store(true);
  if (producer.joinable()) producer.join();
  for (auto& t : threads) t.join();

  std::vector<uint64_t> hist(kMaxLatencyMs + 1, 0);
  uint64_t deliveries = 0, min_per = UINT64_MAX, max_per = 0;
  int closed = 0;
  for (const Worker& w : workers) {
    deliveries += w.deliveries;
    closed += w.closed;
    for (size_t i = 0; i < hist.size(); ++i) hist[i] += w.hist[i];
    for (const Sub& c : w.subs)
      if (c.head) min_per = std::min(min_per, c.frames), max_per = std::max(max_per, c.frames);
  }
  if (min_per == UINT64_MAX) min_per = 0;
  uint64_t counted = 0;
  for (uint64_t h : hist) counted += h;
  auto pct = [&](double q) -> int {
    const auto want = static_cast<uint64_t>(q * static_cast<double>(counted));
    uint64_t acc = 0;
    for (size_t i = 0; i < hist.size(); ++i)
      if ((acc += hist[i]) > want) return static_cast<int>(i);
    return 0;
  };
  int max_ms = 0;
  for (size_t i = 0; i < hist.size(); ++i)
    if (hist[i]) max_ms = static_cast<int>(i);
  std::printf(
      "subscribers=%d connected=%d failed=%d deliveries=%llu seconds=%.1f rate=%.0f p50_ms=%d p99_ms=%d "
      "max_ms=%d min_per_sub=%llu max_per_sub=%llu closed=%d produced=%llu cpu_pct=%.0f\n",
      subscribers, g_ready.load(), g_failed.load(), static_cast<unsigned long long>(deliveries), seconds,
      seconds > 0 ? static_cast<double>(deliveries) / seconds : 0.0, pct(0.50), pct(0.99), max_ms,
      static_cast<unsigned long long>(min_per), static_cast<unsigned long long>(max_per), closed,
      static_cast<unsigned long long>(produced.load()), seconds > 0 ? (cpu1 - cpu0) / seconds * 100 : 0.0);
  return g_failed.load() == 0 ? 0 : 1;
}

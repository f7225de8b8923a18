#include "http/client/client.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "reactor/shard.h"
#include "reactor/test_reactor.h"

namespace rf::http::client {
namespace {

using reactor::Reactor;
using reactor::Task;

// A blocking HTTP/1.1 server on 127.0.0.1 for the client tests: one thread accepts, one thread
// per connection reads each request (head + Content-Length body) and does what the script says.
class TestServer {
 public:
  enum class Action {
    kReply,              // send `bytes`, keep the connection open
    kReplyThenClose,     // send `bytes`, then close (without saying so in the response)
    kCloseWithoutReply,  // close as soon as the request has arrived
    kNoReply,            // never answer; hold the connection until the client closes it
  };
  struct Turn {
    Action action = Action::kReply;
    std::string bytes;
  };
  // conn: index of the connection (in accept order); n: index of the request on it.
  using Script = Turn (*)(int conn, int n, const std::string& request);

  explicit TestServer(Script script) : script_(script) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listen_fd_, 64) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    stop_ = true;
    accept_thread_.join();
    std::lock_guard lock(mu_);
    for (auto& t : conn_threads_) t.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  // Waits until fd is readable, in short steps so that stop_ is noticed.
  bool WaitReadable(int fd) {
    pollfd p{fd, POLLIN, 0};
    while (!stop_) {
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void AcceptLoop() {
    while (WaitReadable(listen_fd_)) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int conn = connections_++;
      std::lock_guard lock(mu_);
      conn_threads_.emplace_back([this, fd, conn] { Serve(fd, conn); });
    }
  }

  // Reads one request into `out`; false on EOF or stop.
  bool ReadRequest(int fd, std::string& buf, std::string& out) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(fd, buf)) return false;
    }
    size_t length = 0;
    std::string head = buf.substr(0, head_end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (size_t cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
      length = std::stoul(head.substr(cl + 17));
    }
    while (buf.size() < head_end + 4 + length) {
      if (!ReadMore(fd, buf)) return false;
    }
    out = buf.substr(0, head_end + 4 + length);
    buf.erase(0, out.size());
    return true;
  }

  bool ReadMore(int fd, std::string& buf) {
    if (!WaitReadable(fd)) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }

  void Serve(int fd, int conn) {
    std::string buf, request;
    for (int n = 0; ReadRequest(fd, buf, request); ++n) {
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      const Turn turn = script_(conn, n, request);
      if (turn.action == Action::kCloseWithoutReply) break;
      if (turn.action == Action::kNoReply) {
        while (ReadMore(fd, buf)) {
        }
        break;
      }
      // MSG_NOSIGNAL: the client may have gone away; that must not kill the test binary.
      ::send(fd, turn.bytes.data(), turn.bytes.size(), MSG_NOSIGNAL);
      if (turn.action == Action::kReplyThenClose) break;
    }
    ::close(fd);
  }

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> conn_threads_;
  std::vector<std::string> requests_;
};

using Action = TestServer::Action;
using Turn = TestServer::Turn;

Turn Ok(int, int, const std::string&) {
  return {Action::kReply, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
}

// Test bodies are captureless coroutines (the test reactor's rule): they find their inputs here.
uint16_t g_port = 0;
Client::Options g_options;

Request Get(std::string path, Nanos timeout = 5 * kSeconds) {
  Request r;
  r.url = "http://127.0.0.1:" + std::to_string(g_port) + path;
  r.deadline = Deadline::After(timeout);
  return r;
}

// The status, or the error code as a negative number, for compact CHECKs.
int StatusOr(const Result<Response>& r) {
  return r ? r->status : -static_cast<int>(r.error().code);
}
int Code(Errc c) { return -static_cast<int>(c); }

// Returns a port on 127.0.0.1 that nothing listens on.
uint16_t ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

Task<void> SendCountingOk(Client* client, int* ok) {
  Result<Response> r = co_await client->Send(Get("/"));
  if (StatusOr(r) == 200) ++*ok;
}

// The test servers listen on loopback, which the client's default egress policy denies.
const EgressPolicy& LoopbackAllowed() {
  static const EgressPolicy policy = *EgressPolicy::Parse("127.0.0.1, localhost");
  return policy;
}

// Runs `body` with a client made from `options` as given (a null egress: the client's default).
void RunClientAsIs(Task<void> (*body)(Client&), Client::Options options) {
  g_options = options;
  static Task<void> (*s_body)(Client&);
  s_body = body;
  test::RunOnReactor(1, [](Reactor&) -> Task<void> {
    Client client(g_options);
    co_await s_body(client);
  });
}

// Runs `body` with a client that may connect to the loopback test servers.
void RunClient(Task<void> (*body)(Client&), Client::Options options = {}) {
  if (options.egress == nullptr) options.egress = &LoopbackAllowed();
  RunClientAsIs(body, options);
}

}  // namespace

TEST_SUITE("http.client") {
  TEST_CASE("the request carries Host, User-Agent, caller headers, Content-Length and keep-alive") {
    Request req;
    req.method = "POST";
    req.headers = {{"X-Trace", "abc"}, {"Idempotency-Key", "run-1/step-2"}};
    req.body = "{}";
    std::string wire;
    REQUIRE(WriteRequest(req, *ParseUrl("http://api.local:9000/v1/x?y=1"), wire));
    CHECK(wire == "POST /v1/x?y=1 HTTP/1.1\r\nHost: api.local:9000\r\nUser-Agent: " +
                      std::string(DefaultUserAgent()) +
                      "\r\nX-Trace: abc\r\nIdempotency-Key: run-1/step-2\r\nContent-Length: 2\r\n"
                      "Connection: keep-alive\r\n\r\n{}");
    CHECK(std::string_view(DefaultUserAgent()).starts_with("ringflow"));
  }

  TEST_CASE("POST, PUT and PATCH send Content-Length: 0 without a body; GET sends none") {
    for (const char* method : {"POST", "PUT", "PATCH"}) {
      Request req;
      req.method = method;
      std::string wire;
      REQUIRE(WriteRequest(req, *ParseUrl("http://h/"), wire));
      CHECK_MESSAGE(wire.find("\r\nContent-Length: 0\r\n") != std::string::npos, method);
    }
    Request get;
    std::string wire;
    REQUIRE(WriteRequest(get, *ParseUrl("http://h/"), wire));
    CHECK(wire.find("Content-Length") == std::string::npos);
    get.body = "x";
    wire.clear();
    REQUIRE(WriteRequest(get, *ParseUrl("http://h/"), wire));
    CHECK(wire.find("\r\nContent-Length: 1\r\n") != std::string::npos);
  }

  TEST_CASE("a caller's Host or User-Agent replaces the default instead of doubling it") {
    Request req;
    req.headers = {{"host", "virtual.example"}, {"User-Agent", "custom/1"}};
    std::string wire;
    REQUIRE(WriteRequest(req, *ParseUrl("http://10.0.0.1/"), wire));
    CHECK(wire ==
          "GET / HTTP/1.1\r\nhost: virtual.example\r\nUser-Agent: custom/1\r\n"
          "Connection: keep-alive\r\n\r\n");
  }

  TEST_CASE("CR, LF or other controls in header names or values are rejected") {
    const std::vector<std::pair<std::string, std::string>> bad = {{"X", "a\r\nInjected: 1"},
                                                                  {"X", "a\nb"},
                                                                  {"X", "a\rb"},
                                                                  {"X", std::string("a\0b", 3)},
                                                                  {"X\r\nY", "v"},
                                                                  {"X Y", "v"},
                                                                  {"", "v"},
                                                                  {"X:", "v"},
                                                                  {"Content-Length", "5"},
                                                                  {"transfer-encoding", "chunked"},
                                                                  {"Connection", "close"}};
    for (const auto& h : bad) {
      Request req;
      req.headers = {h};
      std::string wire;
      Status st = WriteRequest(req, *ParseUrl("http://h/"), wire);
      CHECK_MESSAGE(!st.has_value(), h.first);
      if (!st) CHECK(st.error().code == Errc::kInvalidArgument);
    }
    Request tab;
    tab.headers = {{"X", "a\tb"}};
    std::string wire;
    CHECK(WriteRequest(tab, *ParseUrl("http://h/"), wire));
    Request method;
    method.method = "GE T";
    CHECK_FALSE(WriteRequest(method, *ParseUrl("http://h/"), wire));
  }

  TEST_CASE("several requests to one host reuse a single keep-alive connection" *
            doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      for (int i = 0; i < 5; ++i) {
        Result<Response> r = co_await client.Send(Get("/n" + std::to_string(i)));
        CHECK(StatusOr(r) == 200);
        if (r) CHECK(r->body == "ok");
      }
      CHECK(client.stats().reused.Get() == 4);
      CHECK(client.idle_connections() == 1);
    });
    CHECK(server.connections() == 1);
    const std::vector<std::string> reqs = server.requests();
    REQUIRE(reqs.size() == 5);
    CHECK(reqs[0].starts_with("GET /n0 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(g_port) +
                              "\r\nUser-Agent: ringflow"));
    CHECK(reqs[0].find("\r\nConnection: keep-alive\r\n") != std::string::npos);
    CHECK(reqs[4].starts_with("GET /n4 "));
  }

  TEST_CASE("a request body and caller headers reach the server" * doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Request req = Get("/submit");
      req.method = "PUT";
      req.headers = {{"Content-Type", "application/json"}};
      req.body = std::string(100000, 'b');  // several sends' worth
      CHECK(StatusOr(co_await client.Send(std::move(req))) == 200);
    });
    const std::vector<std::string> reqs = server.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].starts_with("PUT /submit HTTP/1.1\r\n"));
    CHECK(reqs[0].find("\r\nContent-Type: application/json\r\n") != std::string::npos);
    CHECK(reqs[0].find("\r\nContent-Length: 100000\r\n") != std::string::npos);
    CHECK(reqs[0].ends_with("\r\n\r\n" + std::string(100000, 'b')));
  }

  TEST_CASE("a pooled connection the server closed while idle is replaced transparently" *
            doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      // Keep-alive by the headers, closed right after: the server's idle timeout, compressed.
      return Turn{Action::kReplyThenClose, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      CHECK(StatusOr(co_await client.Send(Get("/a"))) == 200);
      CHECK(client.idle_connections() == 1);
      co_await reactor::Sleep(100 * kMillis);  // the FIN arrives
      CHECK(StatusOr(co_await client.Send(Get("/b"))) == 200);
      CHECK(StatusOr(co_await client.Send(Get("/c"))) == 200);
    });
    CHECK(server.connections() == 3);
    CHECK(server.requests().size() == 3);  // no request was lost or sent twice
  }

  TEST_CASE("a pooled connection that dies before answering is retried once on a new one" *
            doctest::timeout(20)) {
    TestServer server([](int conn, int n, const std::string&) {
      // The first connection serves one request, then drops the next one unanswered: the race
      // between a server's idle close and the client's reuse.
      if (conn == 0 && n == 1) return Turn{Action::kCloseWithoutReply, ""};
      return Turn{Action::kReply, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      CHECK(StatusOr(co_await client.Send(Get("/a"))) == 200);
      Request post = Get("/b");
      post.method = "POST";
      post.body = "payload";
      CHECK(StatusOr(co_await client.Send(std::move(post))) == 200);
      CHECK(client.stats().stale_retries.Get() == 1);
      CHECK(client.stats().failures.Get() == 0);
    });
    CHECK(server.connections() == 2);
  }

  TEST_CASE("a fresh connection closed before any response byte is kUnavailable, not retried" *
            doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kCloseWithoutReply, ""};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      CHECK(StatusOr(co_await client.Send(Get("/"))) == Code(Errc::kUnavailable));
    });
    CHECK(server.connections() == 1);
  }

  TEST_CASE("a refused connection is kUnavailable" * doctest::timeout(20)) {
    g_port = ClosedPort();
    RunClient([](Client& client) -> Task<void> {
      Result<Response> r = co_await client.Send(Get("/"));
      CHECK(StatusOr(r) == Code(Errc::kUnavailable));
      if (!r) CHECK(r.error().context.find("127.0.0.1") != std::string::npos);
    });
  }

  TEST_CASE("a server that never answers ends in kTimeout at the deadline" * doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) { return Turn{Action::kNoReply, ""}; });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Result<Response> r = co_await client.Send(Get("/slow", 200 * kMillis));
      CHECK(StatusOr(r) == Code(Errc::kTimeout));
      CHECK(client.idle_connections() == 0);
    });
    CHECK(server.requests().size() == 1);
  }

  TEST_CASE("an expired deadline fails at once without connecting" * doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Request req = Get("/");
      req.deadline = Deadline::At(MonoNow() - 1);
      CHECK(StatusOr(co_await client.Send(std::move(req))) == Code(Errc::kTimeout));
    });
    CHECK(server.connections() == 0);
  }

  TEST_CASE("a connect that hangs ends in kTimeout after connect_timeout" * doctest::timeout(20)) {
    // A listener whose accept queue is full drops further SYNs, so the handshake never completes.
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd, 0) == 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    g_port = ntohs(a.sin_port);
    RunClient([](Client& client) -> Task<void> {
      Request req = Get("/");
      req.connect_timeout = 200 * kMillis;
      Result<Response> r = co_await client.Send(std::move(req));
      CHECK(StatusOr(r) == Code(Errc::kTimeout));
      if (!r) CHECK(r.error().context == "connect timed out");
    });
    for (int fd : fillers) ::close(fd);
    ::close(lfd);
  }

  TEST_CASE("firing the cancel token aborts an exchange in flight with kCancelled" *
            doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) { return Turn{Action::kNoReply, ""}; });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      struct Canceller {
        static Task<void> FireLater(CancelToken* token) {
          co_await reactor::Sleep(50 * kMillis);
          token->Fire();
        }
      };
      CancelToken token;
      reactor::TaskGroup group;
      reactor::Spawn(Canceller::FireLater(&token), &group);
      const Nanos t0 = MonoNow();
      Result<Response> r = co_await client.Send(Get("/slow", 10 * kSeconds), &token);
      CHECK(StatusOr(r) == Code(Errc::kCancelled));
      CHECK(MonoNow() - t0 < 5 * kSeconds);  // promptly, long before the deadline
      co_await group.Wait();
    });
  }

  TEST_CASE("a token fired before the call fails it at once without connecting" *
            doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      CancelToken token;
      token.Fire();
      CHECK(StatusOr(co_await client.Send(Get("/"), &token)) == Code(Errc::kCancelled));
    });
    CHECK(server.connections() == 0);
  }

  TEST_CASE("a chunked response is de-chunked and its connection reused" * doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kReply,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "4\r\nWiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      for (int i = 0; i < 2; ++i) {
        Result<Response> r = co_await client.Send(Get("/"));
        CHECK(StatusOr(r) == 200);
        if (r) CHECK(r->body == "Wikipedia in\r\n\r\nchunks.");
      }
    });
    CHECK(server.connections() == 1);
  }

  TEST_CASE("a response over max_response_bytes is kTooLarge and its connection dropped" *
            doctest::timeout(20)) {
    TestServer server([](int, int n, const std::string&) {
      if (n == 0) {
        return Turn{Action::kReply,
                    "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x')};
      }
      return Turn{Action::kReply, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                      std::string("800\r\n") + std::string(2048, 'y') +
                                      "\r\n0\r\n\r\n"};
    });
    g_port = server.port();
    Client::Options options;
    options.max_response_bytes = 1000;
    RunClient(
        [](Client& client) -> Task<void> {
          CHECK(StatusOr(co_await client.Send(Get("/big"))) == Code(Errc::kTooLarge));
          CHECK(client.idle_connections() == 0);
        },
        options);
    CHECK(server.connections() == 1);

    TestServer chunked([](int, int, const std::string&) {
      return Turn{Action::kReply, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                      std::string("200\r\n") + std::string(512, 'y') + "\r\n" +
                                      std::string("200\r\n") + std::string(512, 'y') +
                                      "\r\n0\r\n\r\n"};
    });
    g_port = chunked.port();
    RunClient(
        [](Client& client) -> Task<void> {
          CHECK(StatusOr(co_await client.Send(Get("/big"))) == Code(Errc::kTooLarge));
        },
        options);
  }

  TEST_CASE("interim 1xx responses are skipped" * doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kReply,
                  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                  "HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\ndone"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Result<Response> r = co_await client.Send(Get("/"));
      CHECK(StatusOr(r) == 202);
      if (r) {
        CHECK(r->body == "done");
        CHECK(r->Header("Link").empty());
      }
    });
  }

  TEST_CASE("responses that end the connection are not pooled" * doctest::timeout(20)) {
    TestServer server([](int conn, int, const std::string&) {
      switch (conn) {
        case 0:
          return Turn{Action::kReply,
                      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"};
        default:
          return Turn{Action::kReplyThenClose, "HTTP/1.1 200 OK\r\n\r\nuntil close"};
      }
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      CHECK(StatusOr(co_await client.Send(Get("/1"))) == 200);
      CHECK(client.idle_connections() == 0);
      Result<Response> r = co_await client.Send(Get("/2"));
      CHECK(StatusOr(r) == 200);
      if (r) CHECK(r->body == "until close");
      CHECK(client.idle_connections() == 0);
    });
    CHECK(server.connections() == 2);
  }

  TEST_CASE("bytes after a complete response keep its connection out of the pool" *
            doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kReply, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Result<Response> r = co_await client.Send(Get("/"));
      CHECK(StatusOr(r) == 200);
      CHECK(client.idle_connections() == 0);
    });
  }

  TEST_CASE("a HEAD response has no body even with a Content-Length" * doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kReply, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Request req = Get("/");
      req.method = "HEAD";
      Result<Response> r = co_await client.Send(std::move(req));
      CHECK(StatusOr(r) == 200);
      if (r) CHECK(r->body.empty());
      CHECK(client.idle_connections() == 1);
    });
  }

  TEST_CASE("a malformed response is kIo" * doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kReply,
                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      CHECK(StatusOr(co_await client.Send(Get("/"))) == Code(Errc::kIo));
    });
  }

  TEST_CASE("bad URLs and headers are kInvalidArgument and nothing is sent" *
            doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      Request https = Get("/");
      https.url = "https://127.0.0.1/";
      Result<Response> r = co_await client.Send(std::move(https));
      CHECK(StatusOr(r) == Code(Errc::kInvalidArgument));
      // A client without a CA bundle (Options::tls) refuses https before connecting.
      if (!r) CHECK(r.error().context.find("https is not available") == 0);
      Request header = Get("/");
      header.headers = {{"X", "a\r\nb"}};
      CHECK(StatusOr(co_await client.Send(std::move(header))) == Code(Errc::kInvalidArgument));
    });
    CHECK(server.connections() == 0);
  }

  TEST_CASE("concurrent requests open separate connections; the pool keeps at most the bound" *
            doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    Client::Options options;
    options.max_idle_per_host = 2;
    RunClient(
        [](Client& client) -> Task<void> {
          int ok = 0;
          reactor::TaskGroup group;
          for (int i = 0; i < 4; ++i) reactor::Spawn(SendCountingOk(&client, &ok), &group);
          co_await group.Wait();
          CHECK(ok == 4);
          CHECK(client.idle_connections() == 2);
        },
        options);
    CHECK(server.connections() == 4);
  }

  TEST_CASE("idle connections past idle_timeout are closed, not reused" * doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    Client::Options options;
    options.idle_timeout = 50 * kMillis;
    RunClient(
        [](Client& client) -> Task<void> {
          CHECK(StatusOr(co_await client.Send(Get("/"))) == 200);
          CHECK(client.idle_connections() == 1);
          co_await reactor::Sleep(200 * kMillis);  // the sweep runs meanwhile
          CHECK(client.idle_connections() == 0);
          CHECK(StatusOr(co_await client.Send(Get("/"))) == 200);
        },
        options);
    CHECK(server.connections() == 2);
  }

  TEST_CASE("a host name is resolved off the shard and cached" * doctest::timeout(20)) {
    TestServer server([](int, int, const std::string&) {
      return Turn{Action::kReply,
                  "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"};
    });
    g_port = server.port();
    RunClient([](Client& client) -> Task<void> {
      for (int i = 0; i < 3; ++i) {
        Request req = Get("/");
        req.url = "http://LocalHost:" + std::to_string(g_port) + "/";
        CHECK(StatusOr(co_await client.Send(std::move(req))) == 200);
      }
      CHECK(client.dns_lookups() == 1);
      CHECK(client.stats().connects.Get() == 3);
    });
    const std::vector<std::string> reqs = server.requests();
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[0].find("\r\nHost: localhost:") != std::string::npos);
  }

  TEST_CASE("by default the client connects to no loopback address, however it is spelled" *
            doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    RunClientAsIs(
        [](Client& client) -> Task<void> {
          const std::string port = std::to_string(g_port);
          static const char* const kHosts[] = {"127.0.0.1",  "localhost",  "2130706433",
                                               "0x7f.0.0.1", "0177.0.0.1", "127.1",
                                               "[::ffff:127.0.0.1]", "[::1]"};
          for (const std::string host : kHosts) {
            Request req = Get("/");
            req.url = "http://" + host + ":" + port + "/";
            Result<Response> r = co_await client.Send(std::move(req));
            REQUIRE_MESSAGE(!r, host);
            CHECK_MESSAGE(r.error().code == Errc::kEgressDenied, host, " ", r.error().ToString());
            CHECK_MESSAGE(r.error().context.find("is loopback") != std::string::npos, host);
          }
          CHECK(client.stats().egress_denied.Get() == 8);
          CHECK(client.stats().failures.Get() == 8);
          CHECK(client.stats().connects.Get() == 0);
          CHECK(client.dns_lookups() == 1);  // localhost only: the spellings are parsed, not resolved
        },
        {});
    CHECK(server.connections() == 0);
  }

  TEST_CASE("a request's own policy replaces the client's, and pooled connections stay apart" *
            doctest::timeout(20)) {
    TestServer server(Ok);
    g_port = server.port();
    Client::Options options;
    options.egress = &LoopbackAllowed();
    RunClient(
        [](Client& client) -> Task<void> {
          static const EgressPolicy deny;
          CHECK(StatusOr(co_await client.Send(Get("/"))) == 200);
          CHECK(client.idle_connections() == 1);
          // The idle connection was admitted by the client's policy, not by this one.
          Request req = Get("/");
          req.egress = &deny;
          CHECK(StatusOr(co_await client.Send(std::move(req))) == Code(Errc::kEgressDenied));
          CHECK(client.stats().reused.Get() == 0);
          CHECK(client.idle_connections() == 1);
          CHECK(StatusOr(co_await client.Send(Get("/"))) == 200);
          CHECK(client.stats().reused.Get() == 1);
        },
        options);
    CHECK(server.connections() == 1);
  }

  TEST_CASE("counters may live outside the client" * doctest::timeout(20)) {
    static ClientStats stats;
    TestServer server(Ok);
    g_port = server.port();
    Client::Options options;
    options.stats = &stats;
    RunClient(
        [](Client& client) -> Task<void> {
          CHECK(StatusOr(co_await client.Send(Get("/"))) == 200);
          CHECK(&client.stats() == &stats);
        },
        options);
    CHECK(stats.requests.Get() == 1);
    std::string text;
    RenderClientMetrics({&stats}, text);
    CHECK(text.find("rf_http_client_requests_total{shard=\"0\"} 1\n") != std::string::npos);
    CHECK(text.find("rf_http_client_egress_denied_total{shard=\"0\"} 0\n") != std::string::npos);
  }
}

}  // namespace rf::http::client

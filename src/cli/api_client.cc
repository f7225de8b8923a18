#include "cli/api_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/tenancy.h"
#include "http/client/request.h"

namespace rf::cli {
namespace {

namespace hc = http::client;

int PollMillis(Deadline deadline) {
  if (deadline.never()) return -1;
  Nanos left = deadline.Remaining();
  return static_cast<int>(std::min<Nanos>((left + kMillis - 1) / kMillis, 1 << 30));
}

// Waits for `events` on fd until the deadline: kTimeout when it passed.
Status Wait(int fd, short events, Deadline deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, PollMillis(deadline));
    if (n > 0) return {};
    if (n == 0) return Error{Errc::kTimeout, "no answer in time"};
    if (errno != EINTR) return Error::FromErrno(errno, "poll");
  }
}

Status SendAll(int fd, std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return Error{Errc::kUnavailable, std::string("connection lost: ") + std::strerror(errno)};
    if (Status st = Wait(fd, POLLOUT, deadline); !st) return st;
  }
  return {};
}

// Reads what is there within the deadline: the byte count, 0 at EOF.
Result<size_t> RecvRaw(int fd, char* buf, size_t size, Deadline deadline) {
  for (;;) {
    ssize_t n = ::recv(fd, buf, size, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return Error{Errc::kUnavailable, std::string("connection lost: ") + std::strerror(errno)};
    if (Status st = Wait(fd, POLLIN, deadline); !st) return st.error();
  }
}

// Sends `data` over the link (sealed first over https).
Status Send(Link& link, std::string_view data, Deadline deadline) {
  if (!link.tls) return SendAll(link.fd, data, deadline);
  if (!link.tls->Write(data)) return Error{Errc::kIo, std::string("TLS: ") + link.tls->error()};
  Buffer out;
  link.tls->TakeOutput(out);
  return SendAll(link.fd, out.view(), deadline);
}

// Plaintext from the link: up to `size` bytes, 0 at the end of the stream (EOF, close_notify).
Result<size_t> RecvSome(Link& link, char* buf, size_t size, Deadline deadline) {
  if (!link.tls) return RecvRaw(link.fd, buf, size, deadline);
  char cipher[16 * 1024];
  while (link.plain.empty()) {
    auto n = RecvRaw(link.fd, cipher, sizeof cipher, deadline);
    if (!n) return n.error();
    if (*n == 0) return size_t{0};
    link.tls->Feed({cipher, *n});
    const bool ok = link.tls->Read(link.plain);
    if (link.tls->HasOutput()) {  // a key update to answer
      Buffer out;
      link.tls->TakeOutput(out);
      if (Status st = SendAll(link.fd, out.view(), deadline); !st) return st.error();
    }
    if (!ok && link.plain.empty()) {
      if (std::string_view(link.tls->error()) == "close_notify") return size_t{0};
      return Error{Errc::kIo, std::string("TLS: ") + link.tls->error()};
    }
  }
  const size_t n = std::min(size, link.plain.size());
  std::memcpy(buf, link.plain.data(), n);
  link.plain.Consume(n);
  return n;
}

// The TLS handshake on a fresh connection to `host`.
Status Handshake(Link& link, SSL_CTX* ctx, const std::string& host, Deadline deadline) {
  link.tls = tls::TlsSession::Client(ctx, host);
  char in[16 * 1024];
  for (;;) {
    const auto step = link.tls->Handshake();
    Buffer out;
    link.tls->TakeOutput(out);
    if (!out.empty())
      if (Status st = SendAll(link.fd, out.view(), deadline); !st) return st;
    if (step == tls::TlsSession::Step::kDone) return {};
    if (step == tls::TlsSession::Step::kFailed)
      return Error{Errc::kUnavailable, "TLS handshake with " + host + ": " + link.tls->error()};
    auto n = RecvRaw(link.fd, in, sizeof in, deadline);
    if (!n) return n.error();
    if (*n == 0) return Error{Errc::kUnavailable, "TLS handshake with " + host + ": the daemon closed the connection"};
    link.tls->Feed({in, *n});
  }
}

// Reads one answer's head (and, for a normal answer, its body) through `parser`. `got_bytes`
// tells the caller whether anything came back, which decides if a reused connection may retry.
// Stops once the head is in when `head_only` (an event stream); the body bytes read with it stay
// in the parser.
Status ReadAnswer(Link& link, hc::ResponseParser& parser, Deadline deadline, bool head_only,
                  bool& got_bytes) {
  char buf[16 * 1024];
  for (;;) {
    if (parser.complete()) return {};
    if (head_only && parser.response().status >= 200) return {};  // the rest is read as it comes
    auto n = RecvSome(link, buf, sizeof buf, deadline);
    if (!n) return n.error();
    if (*n == 0) {
      if (!got_bytes) return Error{Errc::kUnavailable, "the daemon closed the connection without answering"};
      if (Status st = parser.FinishAtEof(); !st)
        return Error{Errc::kUnavailable, "the answer was cut short: " + st.error().context};
      return {};
    }
    got_bytes = true;
    auto fed = parser.Feed(std::string_view(buf, *n));
    if (!fed) return Error{fed.error().code == Errc::kTooLarge ? Errc::kIo : fed.error().code,
                           "malformed answer: " + fed.error().context};
  }
}

}  // namespace

void Link::Close() {
  if (fd >= 0) ::close(fd);
  fd = -1;
  tls.reset();
  plain.Consume(plain.size());
}

std::string Escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<ApiClient> ApiClient::Create(ClientOptions options) {
  while (!options.server.empty() && options.server.back() == '/') options.server.pop_back();
  auto url = hc::ParseUrl(options.server);
  if (!url) return Error{Errc::kInvalidArgument, "--server " + options.server + ": " + url.error().context};
  std::shared_ptr<tls::TlsClientContext> tls;
  if (url->tls) {
    auto t = tls::TlsClientContext::Load(options.ca_file);
    if (!t) return Error{Errc::kInvalidArgument, "--ca-file: " + t.error().context};
    tls = std::move(*t);
  } else if (!options.ca_file.empty()) {
    return Error{Errc::kInvalidArgument, "--ca-file needs an https:// --server"};
  }
  if (url->target.find('?') != std::string::npos)
    return Error{Errc::kInvalidArgument, "--server " + options.server + ": a server URL has no query"};
  std::string prefix = url->target == "/" ? std::string() : url->target;
  for (char c : options.api_key) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f)
      return Error{Errc::kInvalidArgument, "--api-key: the key may not contain spaces or control characters"};
  }
  return ApiClient(std::move(options), std::move(*url), std::move(prefix), std::move(tls));
}

ApiClient::ApiClient(ClientOptions options, hc::Url base, std::string prefix,
                     std::shared_ptr<tls::TlsClientContext> tls)
    : options_(std::move(options)), base_(std::move(base)), prefix_(std::move(prefix)), tls_(std::move(tls)) {}

ApiClient::ApiClient(ApiClient&& other) noexcept
    : options_(std::move(other.options_)),
      base_(std::move(other.base_)),
      prefix_(std::move(other.prefix_)),
      tls_(std::move(other.tls_)),
      link_(std::move(other.link_)) {}

ApiClient::~ApiClient() { link_.Close(); }

Result<Link> ApiClient::Connect(Deadline deadline) const {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(base_.port);
  // Blocking resolution is fine here: the CLI is a plain process, not a reactor shard.
  if (int rc = ::getaddrinfo(base_.host.c_str(), port.c_str(), &hints, &list); rc != 0)
    return Error{Errc::kUnavailable, "cannot resolve " + base_.host + ": " + gai_strerror(rc)};
  std::string last = "no address";
  int fd = -1;
  for (addrinfo* ai = list; ai && fd < 0; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
      last = std::strerror(errno);
      continue;
    }
    int rc = ::connect(s, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      Status st = Wait(s, POLLOUT, deadline);
      int err = 0;
      socklen_t len = sizeof err;
      if (!st) {
        last = "timed out";
        ::close(s);
        continue;
      }
      ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err ? -1 : 0;
      errno = err;
    }
    if (rc != 0) {
      last = std::strerror(errno);
      ::close(s);
      continue;
    }
    int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd = s;
  }
  ::freeaddrinfo(list);
  if (fd < 0) return Error{Errc::kUnavailable, "cannot connect to " + options_.server + ": " + last};
  Link link;
  link.fd = fd;
  if (tls_) {
    if (Status st = Handshake(link, tls_->Acquire(), base_.host, deadline); !st) {
      link.Close();
      return st.error();
    }
  }
  return link;
}

// Everything under /v1 belongs to a namespace but the API's own document.
static std::string NamespacedTarget(std::string_view ns, std::string_view target) {
  constexpr std::string_view kV1 = "/v1/";
  if (ns.empty() || ns == kDefaultNamespace || !target.starts_with(kV1) ||
      target.starts_with("/v1/openapi.json"))
    return std::string(target);
  return "/v1/namespaces/" + std::string(ns) + "/" + std::string(target.substr(kV1.size()));
}

Result<std::string> ApiClient::Wire(std::string_view method, std::string_view target,
                                    std::string_view body,
                                    std::vector<std::pair<std::string, std::string>> headers) const {
  hc::Request req;
  req.method = std::string(method);
  req.headers = std::move(headers);
  if (!options_.api_key.empty()) req.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::string(body);
  hc::Url url = base_;
  url.target = prefix_ + NamespacedTarget(options_.ns, target);
  std::string wire;
  if (Status st = hc::WriteRequest(req, url, wire); !st)
    return Error{Errc::kInvalidArgument, st.error().context};
  return wire;
}

Result<Reply> ApiClient::Call(std::string_view method, std::string_view target, std::string_view body,
                              std::vector<std::pair<std::string, std::string>> headers) {
  auto wire = Wire(method, target, body, std::move(headers));
  if (!wire) return wire.error();
  const Deadline deadline = Deadline::After(options_.timeout);
  for (int attempt = 0;; ++attempt) {
    const bool reused = link_.open();
    if (!reused) {
      auto link = Connect(deadline);
      if (!link) return link.error();
      link_ = std::move(*link);
    }
    hc::ResponseParser parser(hc::ResponseLimits{.max_head = 64 * 1024, .max_body = 64 << 20});
    parser.Reset(method == "HEAD");
    bool got_bytes = false;
    Status st = Send(link_, *wire, deadline);
    if (st) st = ReadAnswer(link_, parser, deadline, false, got_bytes);
    if (!st) {
      link_.Close();
      // A kept-alive connection the daemon closed while idle: once more on a new one.
      if (reused && !got_bytes && attempt == 0 && st.error().code == Errc::kUnavailable) continue;
      if (st.error().code == Errc::kTimeout)
        return Error{Errc::kTimeout, "no answer from " + options_.server + " within the timeout"};
      return st.error();
    }
    if (!parser.keep_alive()) link_.Close();
    hc::Response resp = parser.TakeResponse();
    Reply r;
    r.status = resp.status;
    r.content_type = std::string(resp.Header("Content-Type"));
    r.body = std::move(resp.body);
    return r;
  }
}

Result<EventStream> ApiClient::Stream(std::string_view target, std::string_view last_event_id) {
  std::vector<std::pair<std::string, std::string>> headers{{"Accept", "text/event-stream"}};
  if (!last_event_id.empty()) headers.emplace_back("Last-Event-ID", std::string(last_event_id));
  auto wire = Wire("GET", target, {}, std::move(headers));
  if (!wire) return wire.error();
  const Deadline deadline = Deadline::After(options_.timeout);
  auto link = Connect(deadline);
  if (!link) return link.error();
  EventStream s;
  s.link_ = std::move(*link);
  bool got_bytes = false;
  Status st = Send(s.link_, *wire, deadline);
  if (st) st = ReadAnswer(s.link_, s.parser_, deadline, true, got_bytes);
  if (!st) {
    if (st.error().code == Errc::kTimeout)
      return Error{Errc::kTimeout, "no answer from " + options_.server + " within the timeout"};
    return st.error();
  }
  s.status_ = s.parser_.response().status;
  if (s.status_ != 200) {
    // An error answer is complete (length-delimited) or ended by the close: keep it whole.
    if (!s.parser_.complete()) {
      Status rest = ReadAnswer(s.link_, s.parser_, deadline, false, got_bytes);
      if (!rest) return rest.error();
    }
    s.error_body_ = s.parser_.TakeBody();
    s.ended_ = true;
  }
  return s;
}

EventStream::EventStream(EventStream&& other) noexcept
    : link_(std::move(other.link_)),
      status_(other.status_),
      error_body_(std::move(other.error_body_)),
      ended_(other.ended_),
      parser_(std::move(other.parser_)) {}

EventStream::~EventStream() { link_.Close(); }

Result<bool> EventStream::Read(std::string& out, Nanos timeout) {
  if (std::string early = parser_.TakeBody(); !early.empty()) {  // came with the head
    out += early;
    return !parser_.complete();
  }
  if (ended_ || parser_.complete()) {
    ended_ = true;
    return false;
  }
  char buf[16 * 1024];
  auto n = RecvSome(link_, buf, sizeof buf, Deadline::After(timeout));
  if (!n) return n.error();
  if (*n == 0) {
    if (Status st = parser_.FinishAtEof(); !st)
      return Error{Errc::kUnavailable, "the event stream was cut short: " + st.error().context};
    out += parser_.TakeBody();
    ended_ = true;
    return false;
  }
  auto fed = parser_.Feed(std::string_view(buf, *n));
  if (!fed) return Error{Errc::kIo, "malformed event stream: " + fed.error().context};
  out += parser_.TakeBody();
  if (parser_.complete()) {
    ended_ = true;
    return false;
  }
  return true;
}

}  // namespace rf::cli

// rf-loadgen: a closed-loop HTTP/1.1 load driver for the bench/ scripts.
//
// Each virtual client owns one keep-alive connection to 127.0.0.1 and sends its next request as
// soon as the previous response is complete. Clients are spread over reactor shards (one
// io_uring each); a shard owns its clients, their counters and its latency histogram, and the
// histograms are merged once every shard has stopped. Latency is send -> last response byte
// (a reconnect after the server closed the connection is not part of it), recorded only for
// successful responses: an expected status and, with --expect-body / --expect-field, a body that
// passes the check (a workflow run that answered 201 but failed is not a success).
//
// The run is always bounded: by --duration (requests still in flight at the end are abandoned,
// neither counted nor errors), by --runs (every attempt, failed or not, uses one), and each
// request by --timeout. Only 127.0.0.1 is accepted as a target.
//
// Two additions for bench/history.sh: --path-file sends each request to a target picked at random
// (uniformly, per shard) from a file of them, one a line; --save-field writes the value at a
// JSON pointer of every --save-every-th successful response to a file (e.g. the ids of the runs
// a load created, to read old runs back later).
//
// --rate R turns the closed loop into a paced one: each client sends its requests on a fixed
// schedule (R per second over all clients). A client whose previous response came late sends
// at once, and that request's latency starts at its scheduled time, not at the send, so a
// stalled server shows as latency of every request it held up (no coordinated omission); a
// client's own late timer does not count. The readers of bench/history.sh use it: a
// closed-loop reader sends as fast as the daemon answers, so a faster read path would be
// measured as a heavier read load.
//
// Output, one line on stdout:
//   requests=N errors=N seconds=S rps=R p50_ms=X p95_ms=X p99_ms=X max_ms=X mean_ms=X
//   status_errors=N body_errors=N socket_errors=N timeouts=N reconnects=N
// `requests` counts successful responses; `errors` = status + body + socket errors + timeouts.
// A breakdown of unexpected statuses and the first socket error go to stderr.
// With --save-field, `saved=N` is appended.

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/client/response_parser.h"
#include "json/parse.h"
#include "json/pointer.h"
#include "json/writer.h"
#include "obs/log.h"
#include "reactor/io.h"
#include "reactor/reactor.h"
#include "reactor/shard.h"
#include "reactor/task.h"

namespace rf::bench {
namespace {

using reactor::Shard;
using reactor::Task;

// SQ room: a client has at most one linked pair (operation + link timeout) queued per loop
// turn, and the ring has 4096 SQEs, so a shard takes at most this many clients.
constexpr int kMaxClientsPerShard = 2000;
constexpr int kMaxThreads = 64;
constexpr size_t kRecvBuffer = 16 * 1024;
constexpr Nanos kReconnectBackoff = 10 * kMillis;

// ------------------------------------------------------------------ options

struct Options {
  uint16_t port = 0;
  std::string path = "/";
  std::string path_file;           // --path-file: targets, one a line, picked at random
  std::vector<std::string> paths;  // ...its lines
  std::string method = "GET";
  std::string body;
  std::string body_file;           // --body-file: bodies, one a line, taken in turn
  std::vector<std::string> bodies;  // ...its lines
  std::vector<std::string> headers;
  std::vector<int> expect_status;  // empty: any 2xx
  std::string expect_body;         // substring the body must contain, if set
  std::string expect_pointer;      // --expect-field: JSON pointer into the body...
  std::string expect_value;        // ...and the value it must hold (a string's text, else JSON)
  bool expect_field = false;
  std::string save_pointer;  // --save-field: JSON pointer of the value to save...
  std::string save_file;     // ...and the file it goes to, one value a line
  int64_t save_every = 1;    // every N-th successful response (per shard)
  int threads = 1;
  int clients = 1;
  Nanos duration = 0;  // 0: none
  int64_t runs = 0;    // 0: none
  Nanos timeout = 60 * kSeconds;
  bool pin = false;
  int64_t rate = 0;  // --rate: requests per second over all clients, paced; 0: closed loop
};

constexpr const char* kUsage =
    R"(usage: rf-loadgen --url http://127.0.0.1:PORT[/path] (--duration D | --runs N) [options]

  --url URL            target; the host must be 127.0.0.1
  --path PATH          request target (overrides the URL's path)      [default: URL path or /]
  --path-file FILE     request targets, one a line; each request picks one at random
                       (overrides --path)
  --method M           request method                                   [default: GET]
  --body TEXT          request body, sent as application/json unless --header sets Content-Type
  --body-file FILE     request bodies, one a line, taken in turn (each thread from the first);
                       with --threads 1 and --runs N every line is sent N/lines times (not with
                       --path-file or --body)
  --header 'K: V'      extra request header (repeatable)
  --threads N          reactor shards (1..64)                           [default: 1]
  --clients C          concurrent keep-alive connections, closed loop   [default: 1]
  --rate R             paced instead: R requests per second over all clients, each client
                       on a fixed schedule (latency from the scheduled time when a late
                       response held a request back)                  [default: off]
  --duration D         stop after D (e.g. 500ms, 20s, 2m; bare number = seconds)
  --runs N             stop after N requests in total (attempts, failed ones included)
  --timeout D          per-request bound; a slower request is an error  [default: 60s]
  --expect-status L    comma-separated expected statuses                [default: any 2xx]
  --expect-body S      a successful body must contain S
  --expect-field P=V   a successful body is JSON whose value at pointer P is V (a string's
                       text, else compact JSON), e.g. /status=succeeded
  --save-field P=FILE  write the value at JSON pointer P of successful responses to FILE, one
                       a line (a string's text, else compact JSON), e.g. /id=ids.txt
  --save-every N       save only every N-th successful response of a shard  [default: 1]
  --pin                pin shard i to the i-th allowed CPU              [default: unpinned]

prints: requests= errors= seconds= rps= p50_ms= p95_ms= p99_ms= max_ms= mean_ms= status_errors=
        body_errors= socket_errors= timeouts= reconnects= [saved=]
)";

Result<int64_t> ParseInt(std::string_view s, int64_t lo, int64_t hi, const char* what) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || v < lo || v > hi) {
    return Error{Errc::kInvalidArgument, std::string("bad ") + what + " '" + std::string(s) +
                                             "' (" + std::to_string(lo) + ".." +
                                             std::to_string(hi) + ")"};
  }
  return v;
}

// "250ms", "20s", "2m", "20" (seconds).
Result<Nanos> ParseDuration(std::string_view s, const char* what) {
  Nanos unit = kSeconds;
  if (s.ends_with("ms")) {
    unit = kMillis;
    s.remove_suffix(2);
  } else if (s.ends_with("s")) {
    s.remove_suffix(1);
  } else if (s.ends_with("m")) {
    unit = 60 * kSeconds;
    s.remove_suffix(1);
  }
  auto v = ParseInt(s, 1, 24 * 3600 * (kSeconds / unit), what);
  if (!v) return v.error();
  return *v * unit;
}

Result<uint16_t> ParseUrl(std::string_view url, std::string& path) {
  constexpr std::string_view kScheme = "http://";
  constexpr std::string_view kHost = "127.0.0.1:";
  if (!url.starts_with(kScheme)) {
    return Error{Errc::kInvalidArgument, "--url must start with http:// (no TLS)"};
  }
  url.remove_prefix(kScheme.size());
  if (!url.starts_with(kHost)) {
    return Error{Errc::kInvalidArgument,
                 "--url host must be 127.0.0.1 with an explicit port (loopback only)"};
  }
  url.remove_prefix(kHost.size());
  size_t slash = url.find('/');
  auto port = ParseInt(url.substr(0, slash), 1, 65535, "port");
  if (!port) return port.error();
  if (slash != std::string_view::npos) path = std::string(url.substr(slash));
  return static_cast<uint16_t>(*port);
}

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool HasCtl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
  });
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  std::string url;
  std::string path_flag;
  bool have_path_flag = false;
  auto bad = [](std::string m) { return Error{Errc::kInvalidArgument, std::move(m)}; };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--pin") {
      o.pin = true;
      continue;
    }
    if (!arg.starts_with("--")) return bad("unexpected argument '" + std::string(arg) + "'");
    std::string_view key = arg;
    std::string_view value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) return bad(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    if (key == "--url") {
      url = value;
    } else if (key == "--path") {
      path_flag = value;
      have_path_flag = true;
    } else if (key == "--path-file") {
      o.path_file = value;
    } else if (key == "--method") {
      o.method = value;
    } else if (key == "--body") {
      o.body = value;
    } else if (key == "--body-file") {
      o.body_file = value;
    } else if (key == "--header") {
      o.headers.emplace_back(value);
    } else if (key == "--threads") {
      auto v = ParseInt(value, 1, kMaxThreads, "--threads");
      if (!v) return v.error();
      o.threads = static_cast<int>(*v);
    } else if (key == "--clients") {
      auto v = ParseInt(value, 1, kMaxClientsPerShard * kMaxThreads, "--clients");
      if (!v) return v.error();
      o.clients = static_cast<int>(*v);
    } else if (key == "--duration") {
      auto v = ParseDuration(value, "--duration");
      if (!v) return v.error();
      o.duration = *v;
    } else if (key == "--runs") {
      auto v = ParseInt(value, 1, int64_t{1} << 40, "--runs");
      if (!v) return v.error();
      o.runs = *v;
    } else if (key == "--timeout") {
      auto v = ParseDuration(value, "--timeout");
      if (!v) return v.error();
      o.timeout = *v;
    } else if (key == "--expect-status") {
      std::string_view list = value;
      while (!list.empty()) {
        size_t comma = list.find(',');
        auto v = ParseInt(list.substr(0, comma), 100, 599, "--expect-status");
        if (!v) return v.error();
        o.expect_status.push_back(static_cast<int>(*v));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
      if (o.expect_status.empty()) return bad("--expect-status: empty list");
    } else if (key == "--expect-body") {
      o.expect_body = value;
    } else if (key == "--expect-field") {
      size_t eq = value.find('=');
      if (eq == std::string_view::npos || (eq > 0 && value[0] != '/')) {
        return bad("--expect-field must look like /json/pointer=value");
      }
      o.expect_pointer = value.substr(0, eq);
      o.expect_value = value.substr(eq + 1);
      o.expect_field = true;
    } else if (key == "--save-field") {
      size_t eq = value.find('=');
      if (eq == std::string_view::npos || eq + 1 == value.size() || (eq > 0 && value[0] != '/')) {
        return bad("--save-field must look like /json/pointer=FILE");
      }
      o.save_pointer = value.substr(0, eq);
      o.save_file = value.substr(eq + 1);
    } else if (key == "--rate") {
      auto v = ParseInt(value, 1, 10'000'000, "--rate");
      if (!v) return v.error();
      o.rate = *v;
    } else if (key == "--save-every") {
      auto v = ParseInt(value, 1, int64_t{1} << 40, "--save-every");
      if (!v) return v.error();
      o.save_every = *v;
    } else {
      return bad("unknown option '" + std::string(key) + "'");
    }
  }
  if (url.empty()) return bad("--url is required");
  auto port = ParseUrl(url, o.path);
  if (!port) return port.error();
  o.port = *port;
  if (have_path_flag) o.path = path_flag;
  auto bad_path = [](const std::string& p) {
    return p.empty() || p[0] != '/' || HasCtl(p) || p.find(' ') != std::string::npos;
  };
  if (bad_path(o.path)) {
    return bad("--path must start with '/' and contain no spaces or control characters");
  }
  if (!o.path_file.empty()) {
    std::ifstream in(o.path_file);
    if (!in) return bad("--path-file: cannot read '" + o.path_file + "'");
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      if (bad_path(line)) {
        return bad("--path-file: bad target '" + line + "' (see --path)");
      }
      o.paths.push_back(std::move(line));
    }
    if (o.paths.empty()) return bad("--path-file: no targets in '" + o.path_file + "'");
  }
  if (!o.body_file.empty()) {
    if (!o.path_file.empty() || !o.body.empty()) {
      return bad("--body-file cannot be combined with --path-file or --body");
    }
    std::ifstream in(o.body_file);
    if (!in) return bad("--body-file: cannot read '" + o.body_file + "'");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) o.bodies.push_back(std::move(line));
    }
    if (o.bodies.empty()) return bad("--body-file: no bodies in '" + o.body_file + "'");
  }
  if (o.method.empty() || !std::all_of(o.method.begin(), o.method.end(), IsTokenChar)) {
    return bad("--method must be an HTTP token");
  }
  for (const std::string& h : o.headers) {
    size_t colon = h.find(':');
    if (colon == 0 || colon == std::string::npos || HasCtl(h) ||
        !std::all_of(h.begin(), h.begin() + static_cast<long>(colon), IsTokenChar)) {
      return bad("--header must look like 'Name: value': '" + h + "'");
    }
  }
  if (o.duration == 0 && o.runs == 0) return bad("one of --duration or --runs is required");
  if (o.clients > kMaxClientsPerShard * o.threads) {
    return bad("--clients: at most " + std::to_string(kMaxClientsPerShard) + " per thread");
  }
  return o;
}

bool StartsWithCi(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

std::string BuildRequest(const Options& o, const std::string& path, const std::string& body) {
  std::string r = o.method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o.port) +
                  "\r\nUser-Agent: rf-loadgen\r\n";
  bool has_type = false;
  for (const std::string& h : o.headers) {
    has_type = has_type || StartsWithCi(h, "content-type:");
    r += h + "\r\n";
  }
  bool bodyless_method = o.method == "GET" || o.method == "HEAD" || o.method == "DELETE";
  if (!body.empty() || !bodyless_method) {
    if (!body.empty() && !has_type) r += "Content-Type: application/json\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  r += "\r\n";
  r += body;
  return r;
}

// ------------------------------------------------------------------ histogram

// Log-linear buckets over nanoseconds (the HDR histogram layout): values below 256 are exact,
// above that each power of two is split into 128 buckets, so a bucket is at most 1/128 (0.8%)
// wide relative to its value. Values are clamped to 2^40 ns (~18 min).
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kHalf = uint64_t{1} << (kSubBits - 1);
  static constexpr uint64_t kMaxValue = (uint64_t{1} << 40) - 1;
  static constexpr size_t kBuckets = (40 - kSubBits + 1) * kHalf + 2 * kHalf;

  LatencyHistogram() : counts_(kBuckets, 0) {}

  void Record(Nanos v) {
    uint64_t x = std::clamp<uint64_t>(static_cast<uint64_t>(std::max<Nanos>(v, 0)), 0, kMaxValue);
    ++counts_[Index(x)];
    ++count_;
    sum_ += x;
    max_ = std::max(max_, x);
  }

  void Merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
  }

  // The highest value equivalent to the bucket holding the p-th percentile (capped at max).
  uint64_t Percentile(double p) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(count_) + 0.5);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(HighestEquivalent(i), max_);
    }
    return max_;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
  }

 private:
  static size_t Index(uint64_t v) {
    if (v < 2 * kHalf) return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - (kSubBits - 1);
    return static_cast<size_t>(shift) * kHalf + static_cast<size_t>(v >> shift);
  }
  static uint64_t HighestEquivalent(size_t i) {
    if (i < 2 * kHalf) return i;
    uint64_t shift = i / kHalf - 1;
    uint64_t top = i - shift * kHalf;
    return ((top + 1) << shift) - 1;
  }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

// ------------------------------------------------------------------ one shard's run

struct ShardStats {
  uint64_t ok = 0;
  uint64_t status_errors = 0;
  uint64_t body_errors = 0;
  uint64_t socket_errors = 0;
  uint64_t timeouts = 0;
  uint64_t reconnects = 0;
  std::array<uint64_t, 600> unexpected_status{};
  std::string first_socket_error;
  LatencyHistogram latency;
  std::vector<std::string> saved;  // --save-field values
};

// Everything one shard's clients share. Built before the reactor starts, then touched only by
// its shard's thread until Reactor::Run returns.
struct ShardRun {
  const Options* options = nullptr;
  const std::vector<std::string>* requests = nullptr;  // one, or one per --path-file line
  std::mt19937_64 rng;
  bool in_turn = false;  // --body-file: requests taken in order
  size_t next = 0;
  std::vector<int> fds;    // this shard's pre-connected clients
  int64_t runs_left = -1;  // -1: unbounded (duration mode)
  Nanos stop_at = INT64_MAX;
  Nanos finished_at = 0;
  reactor::TaskGroup clients;
  ShardStats stats;

  // Whether a client may start another request.
  bool TakeTicket() {
    if (MonoNow() >= stop_at || runs_left == 0) return false;
    if (runs_left > 0) --runs_left;
    return true;
  }
  void SocketError(const Error& e) {
    ++stats.socket_errors;
    if (stats.first_socket_error.empty()) stats.first_socket_error = e.ToString();
  }
  // The next request's bytes: the only one, the next of --body-file's, or a random one of
  // --path-file's.
  std::string_view NextRequest() {
    if (requests->size() == 1) return requests->front();
    if (in_turn) return (*requests)[next++ % requests->size()];
    return (*requests)[std::uniform_int_distribution<size_t>(0, requests->size() - 1)(rng)];
  }
};

struct ConnectOp : reactor::IoOp<ConnectOp> {
  int fd;
  const sockaddr_in* address;
  ConnectOp(int f, const sockaddr_in* a) : fd(f), address(a) {}
  void Prep(io_uring_sqe* sqe) {
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(address), sizeof *address);
  }
  Status await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "connect");
    return {};
  }
};

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

Result<int> NewSocket() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::FromErrno(errno, "socket");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Before the reactor starts: a blocking-style connect (poll for completion), so every client's
// connection exists when the clock starts.
Result<int> ConnectNow(uint16_t port) {
  auto fd = NewSocket();
  if (!fd) return fd.error();
  sockaddr_in a = Loopback(port);
  if (::connect(*fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 &&
      errno != EINPROGRESS) {
    Error e = Error::FromErrno(errno, "connect 127.0.0.1:" + std::to_string(port));
    ::close(*fd);
    return e;
  }
  pollfd p{*fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (::poll(&p, 1, 5000) != 1 || ::getsockopt(*fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
      soerr != 0) {
    Error e =
        Error::FromErrno(soerr ? soerr : ETIMEDOUT, "connect 127.0.0.1:" + std::to_string(port));
    ::close(*fd);
    return e;
  }
  return *fd;
}

// Arms `op` with a linked absolute CLOCK_MONOTONIC timeout (link timeouts: 5.5+, ABS: 5.5+);
// on expiry the op completes with -ECANCELED. `ts` must outlive submission: it is in the frame.
template <class Op>
void StartWithDeadline(Op& op, __kernel_timespec* ts, Nanos deadline) {
  ts->tv_sec = deadline / kSeconds;
  ts->tv_nsec = deadline % kSeconds;
  op.sqe_flags = IOSQE_IO_LINK;
  op.Start();
  io_uring_sqe* sqe = Shard::Current().Sqe();
  io_uring_prep_link_timeout(sqe, ts, IORING_TIMEOUT_ABS);
  io_uring_sqe_set_data(sqe, nullptr);  // its completion is ignored by the shard
}

// A value as --expect-field compares and --save-field writes it: a string's text, else JSON.
std::string FieldText(const json::Value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::ToString(v);
}

// --expect-field / --save-field: parses the body (only then; it allocates), compares one value
// and, when `save` is set, appends the saved one (a body without it saves nothing).
bool CheckFields(const Options& o, std::string_view body, bool save, ShardStats& st) {
  auto doc = json::Parse(body);
  if (!doc) return !o.expect_field;
  if (o.expect_field) {
    const json::Value* v = json::Resolve(*doc, o.expect_pointer);
    if (v == nullptr || FieldText(*v) != o.expect_value) return false;
  }
  if (save) {
    if (const json::Value* v = json::Resolve(*doc, o.save_pointer))
      st.saved.push_back(FieldText(*v));
  }
  return true;
}

enum class Outcome : uint8_t { kOk, kSocketError, kTimeout, kAbandoned };

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// One virtual client: request, wait for the whole response, repeat. Everything per request
// lives in this frame (no nested coroutine per request, so no allocation per request besides
// the response parser's).
Task<void> RunClient(ShardRun* run, int fd) {
  const Options& o = *run->options;
  ShardStats& st = run->stats;
  const bool head = o.method == "HEAD";
  const sockaddr_in address = Loopback(o.port);
  std::unique_ptr<char[]> buf(new char[kRecvBuffer]);
  http::client::ResponseParser parser;
  __kernel_timespec ts{};
  // --rate: this client's share of the schedule, its first send at a random phase of it.
  const Nanos interval = o.rate > 0 ? kSeconds * o.clients / o.rate : 0;
  Nanos scheduled = 0;
  if (interval > 0)
    scheduled = MonoNow() + std::uniform_int_distribution<Nanos>(0, interval - 1)(run->rng);

  while (true) {
    bool on_time = true;  // paced: not held back by the previous response
    if (interval > 0) {
      if (scheduled > run->stop_at) break;
      if (MonoNow() < scheduled) co_await reactor::Sleep::Until(scheduled);  // suspends
      else on_time = false;
    }
    if (!run->TakeTicket()) break;
    const Nanos t0 = MonoNow();
    const Nanos deadline = std::min(t0 + o.timeout, run->stop_at);
    Outcome outcome = Outcome::kOk;
    Error error;
    bool connect_failed = false;
    auto classify = [&](const Error& e) {
      if (e.code != Errc::kCancelled) return Outcome::kSocketError;
      return MonoNow() >= run->stop_at ? Outcome::kAbandoned : Outcome::kTimeout;
    };

    if (fd < 0) {  // the previous exchange closed it
      auto s = NewSocket();
      if (!s) {
        run->SocketError(s.error());
        co_await reactor::Sleep::Until(
            std::min(MonoNow() + kReconnectBackoff, run->stop_at));  // suspends
        continue;
      }
      fd = *s;
      ++st.reconnects;
      ConnectOp op(fd, &address);
      StartWithDeadline(op, &ts, deadline);
      if (Status c = co_await op; !c) {  // suspends
        outcome = classify(c.error());
        error = c.error();
        connect_failed = true;
      }
    }

    // Latency starts at the send: a reconnect (after the server closed) is not part of it.
    // Paced, a request the previous response held back starts at its scheduled time (how late
    // this client's own timer woke it is not the server's).
    const Nanos sent_at = on_time ? MonoNow() : scheduled;
    scheduled += interval;
    std::string_view out = run->NextRequest();
    while (outcome == Outcome::kOk && !out.empty()) {
      reactor::SendOp op(fd, out);
      StartWithDeadline(op, &ts, deadline);
      auto n = co_await op;  // suspends
      if (!n) {
        outcome = classify(n.error());
        error = n.error();
      } else {
        out.remove_prefix(*n);
      }
    }

    parser.Reset(head);
    while (outcome == Outcome::kOk && !parser.complete()) {
      reactor::RecvOp op(fd, std::span<char>(buf.get(), kRecvBuffer));
      StartWithDeadline(op, &ts, deadline);
      auto n = co_await op;  // suspends
      if (!n) {
        outcome = classify(n.error());
        error = n.error();
      } else if (*n == 0) {
        if (Status eof = parser.FinishAtEof(); !eof || !parser.complete()) {
          outcome = Outcome::kSocketError;
          error = Error{Errc::kIo, "peer closed before the response was complete"};
        }
        CloseFd(fd);
      } else if (auto used = parser.Feed(std::string_view(buf.get(), *n)); !used) {
        outcome = Outcome::kSocketError;
        error = used.error();
      } else if (*used != *n) {
        outcome = Outcome::kSocketError;
        error = Error{Errc::kIo, "bytes after the response (nothing was pipelined)"};
      }
    }
    const Nanos t1 = MonoNow();

    if (outcome == Outcome::kOk && t1 > run->stop_at) outcome = Outcome::kAbandoned;
    switch (outcome) {
      case Outcome::kAbandoned:
        CloseFd(fd);
        break;
      case Outcome::kTimeout:
        ++st.timeouts;
        CloseFd(fd);
        break;
      case Outcome::kSocketError:
        run->SocketError(error);
        CloseFd(fd);
        break;
      case Outcome::kOk: {
        const http::client::Response& r = parser.response();
        bool status_ok = o.expect_status.empty()
                             ? (r.status >= 200 && r.status < 300)
                             : std::find(o.expect_status.begin(), o.expect_status.end(),
                                         r.status) != o.expect_status.end();
        if (!status_ok) {
          ++st.status_errors;
          ++st.unexpected_status[static_cast<size_t>(std::clamp(r.status, 0, 599))];
        } else if (!o.expect_body.empty() && r.body.find(o.expect_body) == std::string::npos) {
          ++st.body_errors;
        } else {
          // --save-field: every save_every-th success of this shard.
          const bool save =
              !o.save_file.empty() && st.ok % static_cast<uint64_t>(o.save_every) == 0;
          if ((o.expect_field || save) && !CheckFields(o, r.body, save, st)) {
            ++st.body_errors;
          } else {
            ++st.ok;
            st.latency.Record(t1 - sent_at);
          }
        }
        if (!parser.keep_alive()) CloseFd(fd);
        break;
      }
    }
    if (outcome == Outcome::kAbandoned) break;
    // A refused connect fails at once: do not spin on a server that is gone.
    if (connect_failed)
      co_await reactor::Sleep::Until(
          std::min(MonoNow() + kReconnectBackoff, run->stop_at));  // suspends
  }
  CloseFd(fd);
}

Task<void> RunShard(ShardRun* run) {
  for (int fd : run->fds) reactor::Spawn(RunClient(run, fd), &run->clients);
  run->fds.clear();
  co_await run->clients.Wait();  // suspends until every client has stopped
  run->finished_at = MonoNow();
  Shard::Current().RequestStop();
}

void RaiseFdLimit(int needed) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(needed) + 64;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min(want, rl.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

int Main(int argc, char** argv) {
  auto parsed = ParseArgs(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "rf-loadgen: %s\n\n%s", parsed.error().context.c_str(), kUsage);
    return 2;
  }
  Options& o = *parsed;
  o.threads = std::min(o.threads, o.clients);  // a shard without clients would only idle
  obs::SetLevel(obs::Level::kWarn);
  RaiseFdLimit(o.clients);

  std::vector<std::unique_ptr<ShardRun>> runs;
  std::vector<std::string> requests;
  if (!o.bodies.empty()) {
    for (const std::string& b : o.bodies) requests.push_back(BuildRequest(o, o.path, b));
  } else if (o.paths.empty()) {
    requests.push_back(BuildRequest(o, o.path, o.body));
  } else {
    for (const std::string& p : o.paths) requests.push_back(BuildRequest(o, p, o.body));
  }
  std::random_device seed;
  for (int i = 0; i < o.threads; ++i) {
    auto r = std::make_unique<ShardRun>();
    r->options = &o;
    r->requests = &requests;
    r->in_turn = !o.bodies.empty();
    r->rng.seed((uint64_t{seed()} << 32) ^ seed() ^ static_cast<uint64_t>(i));
    if (o.runs > 0) r->runs_left = 0;
    runs.push_back(std::move(r));
  }
  for (int c = 0; c < o.clients; ++c) {
    auto fd = ConnectNow(o.port);
    if (!fd) {
      std::fprintf(stderr, "rf-loadgen: client %d: %s\n", c, fd.error().ToString().c_str());
      for (auto& r : runs)
        for (int f : r->fds) ::close(f);
      return 1;
    }
    ShardRun& r = *runs[static_cast<size_t>(c % o.threads)];
    r.fds.push_back(*fd);
    // --runs is split evenly over clients, then pooled per shard.
    if (o.runs > 0) r.runs_left += o.runs / o.clients + (c < o.runs % o.clients ? 1 : 0);
  }

  std::vector<int> allowed = reactor::AllowedCpus();
  reactor::ReactorOptions ro;
  for (int i = 0; i < o.threads; ++i)
    ro.cpus.push_back(allowed[static_cast<size_t>(i) % allowed.size()]);
  ro.pin = o.pin;
  ro.mailbox_capacity = 16;  // shards never message each other
  reactor::Reactor reactor(std::move(ro));

  const Nanos start = MonoNow();
  for (auto& r : runs) r->stop_at = o.duration > 0 ? start + o.duration : INT64_MAX;
  Status st = reactor.Run([&](Shard& shard) { reactor::Spawn(RunShard(runs[shard.id()].get())); });
  if (!st) {
    std::fprintf(stderr, "rf-loadgen: %s\n", st.error().ToString().c_str());
    return 1;
  }

  ShardStats total;
  Nanos end = start;
  for (auto& r : runs) {
    const ShardStats& s = r->stats;
    total.ok += s.ok;
    total.status_errors += s.status_errors;
    total.body_errors += s.body_errors;
    total.socket_errors += s.socket_errors;
    total.timeouts += s.timeouts;
    total.reconnects += s.reconnects;
    for (size_t i = 0; i < s.unexpected_status.size(); ++i)
      total.unexpected_status[i] += s.unexpected_status[i];
    if (total.first_socket_error.empty()) total.first_socket_error = s.first_socket_error;
    total.latency.Merge(s.latency);
    total.saved.insert(total.saved.end(), s.saved.begin(), s.saved.end());
    end = std::max(end, r->finished_at);
  }
  const double seconds = static_cast<double>(end - start) / 1e9;
  const uint64_t errors =
      total.status_errors + total.body_errors + total.socket_errors + total.timeouts;
  const LatencyHistogram& h = total.latency;

  for (size_t i = 0; i < total.unexpected_status.size(); ++i) {
    if (total.unexpected_status[i]) {
      std::fprintf(stderr, "rf-loadgen: unexpected status %zu: %" PRIu64 "\n", i,
                   total.unexpected_status[i]);
    }
  }
  if (!total.first_socket_error.empty()) {
    std::fprintf(stderr, "rf-loadgen: first socket error: %s\n", total.first_socket_error.c_str());
  }
  if (!o.save_file.empty()) {
    std::ofstream out(o.save_file, std::ios::trunc);
    for (const std::string& v : total.saved) out << v << '\n';
    out.flush();
    if (!out) {
      std::fprintf(stderr, "rf-loadgen: --save-field: cannot write '%s'\n", o.save_file.c_str());
      return 1;
    }
  }
  std::printf("requests=%" PRIu64 " errors=%" PRIu64
              " seconds=%.3f rps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f"
              " status_errors=%" PRIu64 " body_errors=%" PRIu64 " socket_errors=%" PRIu64
              " timeouts=%" PRIu64 " reconnects=%" PRIu64,
              total.ok, errors, seconds,
              seconds > 0 ? static_cast<double>(total.ok) / seconds : 0.0, Ms(h.Percentile(50)),
              Ms(h.Percentile(95)), Ms(h.Percentile(99)), Ms(h.max()), h.mean() / 1e6,
              total.status_errors, total.body_errors, total.socket_errors, total.timeouts,
              total.reconnects);
  if (!o.save_file.empty()) std::printf(" saved=%zu", total.saved.size());
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace rf::bench

int main(int argc, char** argv) { return rf::bench::Main(argc, argv); }

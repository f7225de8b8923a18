#include "app/doctor.h"

#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <numa.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "reactor/reactor.h"
#include "store/postgres/migrate.h"
#include "store/postgres/pg_conn.h"
#include "store/redis/redis_conn.h"
#include "tls/tls_client.h"

namespace rf::app {
namespace {

// Connect (AUTH/SELECT included) and PING, all within this.
constexpr Nanos kRedisCheckTimeout = 3 * kSeconds;
constexpr Nanos kPgCheckTimeout = 5 * kSeconds;

struct Report {
  int findings = 0;
  void Line(const std::string& check, const std::string& value, const std::string& want, bool ok) {
    std::printf("%-30s %-44s %-24s %s\n", check.c_str(), value.c_str(), want.c_str(),
                ok ? "ok" : "FINDING");
    if (!ok) ++findings;
  }
  void Info(const std::string& check, const std::string& value) {
    std::printf("%-30s %-44s %-24s %s\n", check.c_str(), value.c_str(), "", "info");
  }
  // A finding whose reason is longer than the value column: the column, then the whole reason.
  void Failed(const std::string& check, const std::string& why, const std::string& want) {
    Line(check, why.size() <= 44 ? why : why.substr(0, 41) + "...", want, false);
    if (why.size() > 44) std::printf("  %s\n", why.c_str());
  }
};

std::string ProcSys(const std::string& key) {
  const char* root = std::getenv("RINGFLOW_PROC_SYS");
  std::string path = std::string(root ? root : "/proc/sys") + "/" + key;
  std::ifstream f(path);
  std::string v;
  if (!f || !std::getline(f, v)) return {};
  return v;
}

void CheckAtLeast(Report& r, const std::string& key, long long want) {
  std::string v = ProcSys(key);
  if (v.empty()) {
    r.Line(key, "(unreadable)", ">= " + std::to_string(want), false);
    return;
  }
  r.Line(key, v, ">= " + std::to_string(want), std::atoll(v.c_str()) >= want);
}

void CheckKernel(Report& r) {
  utsname u{};
  uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  // 6.1: SINGLE_ISSUER|DEFER_TASKRUN; 5.19: multishot accept, MSG_RING (5.18).
  r.Line("kernel", u.release, ">= 6.1", major > 6 || (major == 6 && minor >= 1));
}

void CheckIoUring(Report& r) {
  std::string disabled = ProcSys("kernel/io_uring_disabled");
  if (!disabled.empty()) r.Line("kernel.io_uring_disabled", disabled, "0", disabled == "0");
  io_uring ring{};
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  std::string mode = "single_issuer+defer_taskrun";
  int rc = io_uring_queue_init_params(8, &ring, &p);
  if (rc == -EINVAL) {
    p = {};
    p.flags = IORING_SETUP_COOP_TASKRUN;
    mode = "coop_taskrun (fallback)";
    rc = io_uring_queue_init_params(8, &ring, &p);
  }
  if (rc == -EINVAL) {
    p = {};
    mode = "basic (fallback)";
    rc = io_uring_queue_init_params(8, &ring, &p);
  }
  if (rc < 0) {
    r.Line("io_uring", std::string("unavailable: ") + strerror(-rc), "available", false);
    return;
  }
  r.Line("io_uring setup", mode, "single_issuer", mode.starts_with("single_issuer"));
  std::string ops;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    auto has = [&](int op, const char* name) {
      bool ok = io_uring_opcode_supported(probe, op);
      ops += ok ? std::string(ops.empty() ? "" : ",") + name : "";
      return ok;
    };
    bool all = has(IORING_OP_MSG_RING, "msg_ring") & has(IORING_OP_ACCEPT, "accept") &
               has(IORING_OP_RECV, "recv") & has(IORING_OP_SEND, "send") &
               has(IORING_OP_ASYNC_CANCEL, "cancel");
    io_uring_free_probe(probe);
    r.Line("io_uring ops", ops, "msg_ring,accept,...", all);
  }
  r.Line("io_uring features", std::string((p.features & IORING_FEAT_EXT_ARG) ? "ext_arg " : "") +
                                  ((p.features & IORING_FEAT_NODROP) ? "nodrop " : "") +
                                  ((p.features & IORING_FEAT_CQE_SKIP) ? "cqe_skip" : ""),
         "ext_arg nodrop cqe_skip",
         (p.features & IORING_FEAT_EXT_ARG) && (p.features & IORING_FEAT_NODROP) &&
             (p.features & IORING_FEAT_CQE_SKIP));
  io_uring_queue_exit(&ring);
}

void CheckNuma(Report& r, const Config& c) {
  if (numa_available() < 0) {
    r.Info("numa", "not available (single node assumed)");
  } else {
    int nodes = numa_max_node() + 1;
    std::string layout = std::to_string(nodes) + " node(s):";
    for (int n = 0; n < nodes; ++n) {
      std::string cpus;
      for (int cpu = 0; cpu < numa_num_configured_cpus(); ++cpu)
        if (numa_node_of_cpu(cpu) == n) cpus += (cpus.empty() ? "" : ",") + std::to_string(cpu);
      layout += " " + std::to_string(n) + "=[" + cpus + "]";
    }
    r.Info("numa", layout);
  }
  std::string map;
  for (size_t i = 0; i < c.cpus.size(); ++i) {
    int node = numa_available() >= 0 ? numa_node_of_cpu(c.cpus[i]) : 0;
    map += (map.empty() ? "" : " ") + std::to_string(i) + "->cpu" + std::to_string(c.cpus[i]) +
           "/n" + std::to_string(node);
  }
  r.Info("shards", std::to_string(c.shards) + ": " + map);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  r.Line("shards vs cpus", std::to_string(c.shards) + " shards, " + std::to_string(online) + " cpus",
         "shards <= cpus", c.shards <= static_cast<unsigned>(online));
}

void CheckLimits(Report& r, const Config& c) {
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  unsigned long long want = std::max<unsigned long long>(c.max_connections + 1024, 262144);
  r.Line("RLIMIT_NOFILE (soft)", std::to_string(nofile.rlim_cur), ">= " + std::to_string(want),
         nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur >= want);
  CheckAtLeast(r, "net/core/somaxconn", 4096);
  CheckAtLeast(r, "net/ipv4/tcp_max_syn_backlog", 8192);
  CheckAtLeast(r, "fs/file-max", 1048576);
}

void CheckListener(Report& r, const Config& c) {
  int fd = ::socket(c.listen_host.find(':') == std::string::npos ? AF_INET : AF_INET6,
                    SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string host = c.listen_host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  bool parsed = false;
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(c.listen_port);
    len = sizeof *v4;
    parsed = true;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(c.listen_port);
    len = sizeof *v6;
    parsed = true;
  }
  std::string result = "bindable";
  bool ok = parsed;
  if (!parsed) {
    result = "not an IP literal";
  } else if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    result = std::string("bind: ") + strerror(errno) + (errno == EADDRINUSE ? " (running already?)" : "");
    ok = false;
  }
  if (fd >= 0) ::close(fd);
  r.Line("listen " + c.listen, result, "bindable", ok);
}

void CheckStore(Report& r, const Config& c) {
  struct stat st{};
  std::string dir = c.data_dir;
  std::string status;
  bool ok;
  if (::stat(dir.c_str(), &st) == 0) {
    ok = S_ISDIR(st.st_mode) && ::access(dir.c_str(), W_OK) == 0;
    status = ok ? "writable" : "not a writable directory";
  } else {
    std::string parent = dir.find('/') == std::string::npos ? "." : dir.substr(0, dir.rfind('/'));
    if (parent.empty()) parent = "/";
    ok = ::access(parent.c_str(), W_OK) == 0;
    status = ok ? "absent, creatable" : "absent, parent not writable";
  }
  r.Line("store embedded " + dir, status, "writable", ok);
}

// Loopback addresses and unix sockets: the traffic does not leave the host.
bool LocalHost(const std::string& host) {
  if (host.empty() || host.front() == '/' || host.front() == '@' || host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

struct PgProbe {
  Result<store::pg::PgTls> tls = Error{Errc::kInternal, "not run"};
};

reactor::Task<void> ConnectPostgres(reactor::Reactor* reactor, std::string url, PgProbe* probe) {
  auto conn = co_await store::pg::PgConn::Connect(std::move(url),
                                                  Deadline::After(kPgCheckTimeout));  // suspends
  if (conn) {
    probe->tls = (*conn)->tls();
  } else {
    probe->tls = conn.error();
  }
  reactor->Stop();
}

// How the daemon's own connections are secured: a connect through the serve code path (libpq
// polled on io_uring, TLS included). Remote hosts should be reached with sslmode=verify-full.
void CheckPostgresTls(Report& r, const Config& c) {
  PgProbe probe;
  reactor::Reactor reactor({.cpus = {reactor::AllowedCpus().front()}, .pin = false});
  Status ran = reactor.Run([&](reactor::Shard&) {
    reactor::Spawn(ConnectPostgres(&reactor, c.database_url, &probe));
  });
  if (!ran) probe.tls = ran.error();
  const std::string check = "postgres tls";
  const std::string want = "verify-full (not local)";
  if (!probe.tls) {
    r.Failed(check, probe.tls.error().context, want);
    return;
  }
  const store::pg::PgTls& t = *probe.tls;
  const bool local = LocalHost(t.host);
  std::string value = t.in_use ? t.protocol + ", sslmode=" + t.sslmode
                               : "off, sslmode=" + t.sslmode;
  if (local) value += " (local)";
  r.Line(check, value, want, local || (t.in_use && t.sslmode == "verify-full"));
}

// With --store postgres: the database answers and its schema is the one this
// binary serves (what `serve` checks before it starts). Blocking libpq: doctor
// runs no shard.
void CheckPostgres(Report& r, const Config& c) {
  if (c.store != Store::kPostgres) return;
  const std::string check = "store postgres";
  if (c.database_url.empty()) {
    r.Line(check, "no --database-url", "reachable, schema current", false);
    return;
  }
  // libpq waits for an unanswered connect as long as TCP does, unless told.
  ::setenv("PGCONNECT_TIMEOUT", "5", 0);
  const Nanos t0 = MonoNow();
  auto state = store::pg::ReadSchema(c.database_url);
  if (!state) {
    r.Failed(check, state.error().context, "reachable, schema current");
    return;
  }
  const std::string have = "schema " + std::to_string(state->applied) + " of " +
                           std::to_string(state->known) + ", " +
                           std::to_string((MonoNow() - t0) / kMillis) + " ms";
  r.Line(check, have, "reachable, schema current", state->applied == state->known);
  CheckPostgresTls(r, c);
}

struct RedisProbe {
  Status outcome;
  Nanos took = 0;
  std::string tls;  // the protocol over rediss://
};

reactor::Task<void> PingRedis(reactor::Reactor* reactor, store::redis::RedisUrl url,
                              store::redis::RedisConn::Options options, RedisProbe* probe) {
  using store::redis::RedisConn;
  const Nanos start = MonoNow();
  const Deadline deadline = Deadline::After(kRedisCheckTimeout);
  Result<std::unique_ptr<RedisConn>> conn =
      co_await RedisConn::Connect(url, options, nullptr, deadline);  // suspends
  if (!conn) {
    probe->outcome = conn.error();
  } else {
    probe->tls = (*conn)->tls_protocol();
    Result<store::redis::RedisReply> pong = co_await (*conn)->Command(deadline, "PING");
    if (!pong) {
      probe->outcome = pong.error();
    } else if (!pong->IsStatus("PONG")) {
      probe->outcome = Error{Errc::kInternal, "PING answered " + pong->Describe()};
    }
    co_await (*conn)->Close();  // suspends
  }
  probe->took = MonoNow() - start;
  reactor->Stop();
}

// With --redis-url: connects on a one-shard reactor of its own (the client's code path: the
// lookup off the ring thread, AUTH, SELECT) and sends PING, within kRedisCheckTimeout.
void CheckRedis(Report& r, const Config& c) {
  if (c.redis_url.empty()) {
    r.Info("redis", "not configured (--redis-url)");
    return;
  }
  auto url = store::redis::ParseRedisUrl(c.redis_url);  // validated by LoadConfig
  if (!url) {
    r.Line("redis", url.error().context, "reachable", false);
    return;
  }
  store::redis::RedisConn::Options options;
  std::unique_ptr<tls::TlsClientContext> tls;
  if (url->tls) {
    auto t = tls::TlsClientContext::Load(c.redis_ca_file);
    if (!t) {
      r.Failed("redis " + url->Endpoint(), t.error().context, "reachable (PING)");
      return;
    }
    tls = std::move(*t);
    options.tls = tls.get();
  }
  RedisProbe probe;
  reactor::Reactor reactor({.cpus = {reactor::AllowedCpus().front()}, .pin = false});
  Status ran = reactor.Run([&](reactor::Shard&) {
    reactor::Spawn(PingRedis(&reactor, *url, options, &probe));
  });
  if (!ran) probe.outcome = ran.error();
  const std::string check = "redis " + url->Endpoint();
  if (!probe.outcome) {
    r.Line(check, probe.outcome.error().context, "reachable (PING)", false);
    return;
  }
  char took[64];
  std::snprintf(took, sizeof took, "PONG in %.1f ms%s%s", static_cast<double>(probe.took) / 1e6,
                probe.tls.empty() ? "" : ", ", probe.tls.c_str());
  r.Line(check, took, "reachable (PING)", true);
}

}  // namespace

int Doctor(const Config& config) {
  Report r;
  std::printf("%-30s %-44s %-24s %s\n", "CHECK", "VALUE", "RECOMMENDED", "STATUS");
  CheckKernel(r);
  CheckIoUring(r);
  CheckNuma(r, config);
  CheckLimits(r, config);
  CheckListener(r, config);
  CheckStore(r, config);
  CheckPostgres(r, config);
  CheckRedis(r, config);
  std::printf("\n%d finding(s)\n", r.findings);
  return r.findings == 0 ? 0 : 1;
}

}  // namespace rf::app

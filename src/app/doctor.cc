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
#include "store/redis/redis_conn.h"

namespace rf::app {
namespace {

// Connect (AUTH/SELECT included) and PING, all within this.
constexpr Nanos kRedisCheckTimeout = 3 * kSeconds;

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
    r.Line(check, state.error().context.substr(0, 44), "reachable, schema current", false);
    return;
  }
  const std::string have = "schema " + std::to_string(state->applied) + " of " +
                           std::to_string(state->known) + ", " +
                           std::to_string((MonoNow() - t0) / kMillis) + " ms";
  r.Line(check, have, "reachable, schema current", state->applied == state->known);
}

struct RedisProbe {
  Status outcome;
  Nanos took = 0;
};

reactor::Task<void> PingRedis(reactor::Reactor* reactor, store::redis::RedisUrl url,
                              RedisProbe* probe) {
  using store::redis::RedisConn;
  const Nanos start = MonoNow();
  const Deadline deadline = Deadline::After(kRedisCheckTimeout);
  Result<std::unique_ptr<RedisConn>> conn =
      co_await RedisConn::Connect(url, {}, nullptr, deadline);  // suspends
  if (!conn) {
    probe->outcome = conn.error();
  } else {
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
  RedisProbe probe;
  reactor::Reactor reactor({.cpus = {reactor::AllowedCpus().front()}, .pin = false});
  Status ran = reactor.Run([&](reactor::Shard&) {
    reactor::Spawn(PingRedis(&reactor, *url, &probe));
  });
  if (!ran) probe.outcome = ran.error();
  const std::string check = "redis " + url->Endpoint();
  if (!probe.outcome) {
    r.Line(check, probe.outcome.error().context, "reachable (PING)", false);
    return;
  }
  char took[32];
  std::snprintf(took, sizeof took, "PONG in %.1f ms", static_cast<double>(probe.took) / 1e6);
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

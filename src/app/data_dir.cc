#include "app/data_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "obs/log.h"
#include "reactor/offload.h"
#include "store/embedded/file_ops.h"

namespace rf::app {

Status LockDataDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return Error::FromErrno(errno, "cannot create data dir " + dir);
  const std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Error::FromErrno(errno, "cannot open " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return Error::FromErrno(err, "cannot lock " + path);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : std::string("?");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Error{Errc::kConflict, "another ringflow (pid " + holder + ") uses data dir " + dir +
                                      ": give each daemon its own --data-dir"};
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0)
    RF_LOG(kWarn, "cannot write the pid into the data dir lock", {"path", path}, {"error", strerror(errno)});
  return {};
}

api::SloService::Persistence SloPersistence(const std::string& data_dir) {
  api::SloService::Persistence p;
  const std::string path = data_dir + "/slo.json";
  if (auto text = store::embedded::ReadFileBlocking(path)) {
    p.saved = std::move(*text);
  } else if (text.error().code != Errc::kNotFound) {
    RF_LOG(kWarn, "slo: cannot read the saved state", {"path", path}, {"error", text.error().ToString()});
  }
  p.save = [data_dir](std::string text) -> reactor::Task<Status> {
    co_return co_await reactor::Offload([&data_dir, &text] {  // suspends
      return store::embedded::WriteFileAtomicBlocking(data_dir, "slo.json", text);
    });
  };
  return p;
}

std::string DefaultInstanceId(const std::string& data_dir) {
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  char real[PATH_MAX];
  const char* dir = ::realpath(data_dir.c_str(), real) ? real : data_dir.c_str();
  return std::string(host) + ":" + dir;
}

}  // namespace rf::app

#include "store/embedded/file_ops.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>

namespace rf::store::embedded {

Error WithContext(Error e, std::string_view what) {
  std::string ctx(what);
  if (!e.context.empty()) {
    ctx += ": ";
    ctx += e.context;
  }
  e.context = std::move(ctx);
  return e;
}

reactor::Task<Status> WriteAllAt(int fd, std::span<iovec> iov, uint64_t offset) {
  size_t first = 0;
  while (first < iov.size() && iov[first].iov_len == 0) ++first;
  while (first < iov.size()) {
    WritevOp op(fd, iov.data() + first, static_cast<unsigned>(iov.size() - first), offset);
    auto n = co_await op;  // suspends
    if (!n) co_return n.error();
    if (*n == 0) co_return Error{Errc::kIo, "writev wrote nothing"};
    offset += *n;
    // A short write (disk full, a signal in the io worker): skip what went out and go on.
    size_t left = *n;
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  co_return Status{};
}

Status FsyncPathBlocking(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open " + path);
  UniqueFd guard(fd);
  if (::fsync(fd) != 0) return Error::FromErrno(errno, "fsync " + path);
  return {};
}

Status WriteAllBlocking(int fd, std::string_view bytes, const std::string& what) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(errno, "write " + what);
    off += static_cast<size_t>(n);
  }
  return {};
}

Status WriteFileAtomicBlocking(const std::string& dir, const std::string& name, std::string_view text) {
  const std::string tmp = dir + "/" + name + ".tmp";
  const std::string dst = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::FromErrno(errno, "open " + tmp);
  UniqueFd guard(fd);
  if (auto st = WriteAllBlocking(fd, text, tmp); !st) return st;
  if (::fdatasync(fd) != 0) return Error::FromErrno(errno, "fdatasync " + tmp);
  guard.Reset();
  if (::rename(tmp.c_str(), dst.c_str()) != 0) return Error::FromErrno(errno, "rename " + tmp);
  return FsyncPathBlocking(dir);
}

Status MakeDirsBlocking(const std::string& dir) {
  if (dir.empty()) return Error{Errc::kInvalidArgument, "journal directory is empty"};
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return Error{Errc::kInvalidArgument, dir + " exists and is not a directory"};
  }
  std::string parent = ".";
  if (size_t slash = dir.find_last_of('/'); slash != std::string::npos) {
    parent = slash == 0 ? "/" : dir.substr(0, slash);
  }
  if (parent != dir) {
    if (auto r = MakeDirsBlocking(parent); !r) return r;
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error::FromErrno(errno, "mkdir " + dir);
  }
  // The new entry is durable only once its parent directory is synced.
  return FsyncPathBlocking(parent);
}

Result<std::vector<std::string>> ListDirBlocking(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Error::FromErrno(errno, "opendir " + dir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Error::FromErrno(err, "readdir " + dir);
  return names;
}

Result<std::string> ReadFileBlocking(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open " + path);
  UniqueFd guard(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Error::FromErrno(errno, "fstat " + path);
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(errno, "read " + path);
    if (n == 0) break;  // shrank under us; scan what is there
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

Status TruncateBlocking(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open " + path);
  UniqueFd guard(fd);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return Error::FromErrno(errno, "ftruncate " + path);
  }
  if (::fdatasync(fd) != 0) return Error::FromErrno(errno, "fdatasync " + path);
  return {};
}

}  // namespace rf::store::embedded

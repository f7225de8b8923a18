#include "store/history/nowait_fs.h"

#include <fcntl.h>
#include <rocksdb/file_system.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rf::store::history {
namespace {

thread_local bool t_nowait = false;

// Incomplete, as RocksDB answers a read with read_tier = kBlockCacheTier that needed the disk:
// the caller's kNotInMemory either way (IOStatus has no Incomplete of its own).
rocksdb::IOStatus NeedsDisk(const char* what) {
  return rocksdb::status_to_io_status(rocksdb::Status::Incomplete(what, "needs the disk"));
}

class NoWaitFile final : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  NoWaitFile(std::unique_ptr<rocksdb::FSRandomAccessFile> file, int fd)
      : FSRandomAccessFileOwnerWrapper(std::move(file)), fd_(fd) {}
  ~NoWaitFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& options,
                         rocksdb::Slice* result, char* scratch,
                         rocksdb::IODebugContext* dbg) const override {
    if (!t_nowait) return target()->Read(offset, n, options, result, scratch, dbg);
    return ReadCached(offset, n, result, scratch);
  }

  rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    if (!t_nowait) return target()->MultiRead(reqs, num, options, dbg);
    for (size_t i = 0; i < num; ++i)
      reqs[i].status = ReadCached(reqs[i].offset, reqs[i].len, &reqs[i].result, reqs[i].scratch);
    return rocksdb::IOStatus::OK();
  }

  // readahead(2) may block; RocksDB falls back to its own buffer, filled by Read.
  rocksdb::IOStatus Prefetch(uint64_t offset, size_t n, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    if (t_nowait) return rocksdb::IOStatus::NotSupported("prefetch while reading inline");
    return target()->Prefetch(offset, n, options, dbg);
  }

 private:
  // Only what the page cache holds: a page that is not there ends the read with Incomplete
  // (a read that began in the cache and reaches one that is not does too).
  rocksdb::IOStatus ReadCached(uint64_t offset, size_t n, rocksdb::Slice* result, char* scratch) const {
    if (fd_ < 0) return NeedsDisk("no descriptor for inline reads");
    size_t got = 0;
    while (got < n) {
      iovec v{scratch + got, n - got};
      ssize_t r = ::preadv2(fd_, &v, 1, static_cast<off_t>(offset + got), RWF_NOWAIT);
      if (r > 0) {
        got += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) break;  // end of file
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return NeedsDisk("page cache");
      return rocksdb::IOStatus::IOError("inline read", std::strerror(errno));
    }
    *result = rocksdb::Slice(scratch, got);
    return rocksdb::IOStatus::OK();
  }

  int fd_;
};

class NoWaitFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  NoWaitFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "RingflowNoWaitFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewRandomAccessFile(const std::string& name, const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* out,
                                        rocksdb::IODebugContext* dbg) override {
    // Opening reads the file's footer and index; the helper that reads next opens it.
    if (t_nowait) return NeedsDisk("opening a table file");
    std::unique_ptr<rocksdb::FSRandomAccessFile> file;
    rocksdb::IOStatus s = target()->NewRandomAccessFile(name, options, &file, dbg);
    if (!s.ok() || options.use_direct_reads) {
      *out = std::move(file);
      return s;
    }
    // Without a descriptor of its own (out of descriptors) the file still serves the
    // helpers; its inline reads all answer Incomplete.
    int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);  // point reads: no readahead
    *out = std::make_unique<NoWaitFile>(std::move(file), fd);
    return s;
  }
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewNoWaitFileSystem() { return std::make_shared<NoWaitFileSystem>(); }

bool NoWaitReadsWork(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char byte;
  iovec v{&byte, 1};
  // EAGAIN (not cached) still says the flag is understood; EOPNOTSUPP says it is not.
  ssize_t r = ::preadv2(fd, &v, 1, 0, RWF_NOWAIT);
  const bool works = r >= 0 || errno == EAGAIN;
  ::close(fd);
  return works;
}

NoWaitScope::NoWaitScope(bool on) : was_(t_nowait) { t_nowait = was_ || on; }
NoWaitScope::~NoWaitScope() { t_nowait = was_; }

}  // namespace rf::store::history

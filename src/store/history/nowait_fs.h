#pragma once
// A RocksDB file system whose table reads can be told not to wait for the disk.
// Inside a NoWaitScope (on that thread only) a table read that the page cache
// cannot answer at once fails with Incomplete instead of blocking
// (preadv2 with RWF_NOWAIT), and opening a table file is refused. A shard reads
// history inline this way and hands only what needs the disk to the helpers:
// the split io_uring itself makes between an inline attempt and its workers.
// Without it an inline read stopped at the block cache, and a GET of an old
// run under load (its blocks in the page cache, not in the block cache) paid
// two thread hops that waited for a CPU.
//
// Everything outside a scope (flushes, compactions, the helpers' reads) goes
// to RocksDB's own file system unchanged.

#include <memory>
#include <string>

namespace rocksdb {
class FileSystem;
}

namespace rf::store::history {

// Wraps RocksDB's default file system. Each table file opened for reading
// keeps a second descriptor for the reads that must not wait.
std::shared_ptr<rocksdb::FileSystem> NewNoWaitFileSystem();

// Whether the file system under `dir` answers RWF_NOWAIT reads (ext4, xfs and
// btrfs do; a file system that does not would make every inline read a miss).
// Reads `file`, a file in `dir` that exists.
bool NoWaitReadsWork(const std::string& file);

// While alive, table reads on this thread do not wait for the disk.
class NoWaitScope {
 public:
  explicit NoWaitScope(bool on);
  ~NoWaitScope();
  NoWaitScope(const NoWaitScope&) = delete;
  NoWaitScope& operator=(const NoWaitScope&) = delete;

 private:
  bool was_;
};

}  // namespace rf::store::history

#pragma once
// Reactor: the set of shards, their threads and the mailboxes between them.
// Run() starts one pinned thread per shard and returns when every loop has
// stopped. Built once at start-up; nothing here is on a hot path except
// mailbox() lookups.

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "reactor/mailbox.h"
#include "reactor/shard.h"

namespace rf::reactor {

struct ReactorOptions {
  std::vector<int> cpus;           // one shard per entry, pinned to it
  size_t mailbox_capacity = 4096;  // per (from, to) pair, power of two
  bool pin = true;                 // pin each shard's thread to its CPU
};

class Reactor {
 public:
  explicit Reactor(ReactorOptions options);
  ~Reactor();

  size_t size() const { return shards_.size(); }
  Shard& shard(unsigned i) { return *shards_[i]; }
  Mailbox& mailbox(unsigned from, unsigned to) { return *mail_[from * shards_.size() + to]; }
  bool pin() const { return pin_; }

  // Starts every shard's thread; `on_start` runs on each shard's thread after
  // its ring exists and before its loop. Returns when all loops have ended,
  // or an error if a ring could not be created.
  Status Run(const std::function<void(Shard&)>& on_start);
  void Stop();  // any thread

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::unique_ptr<Mailbox>> mail_;
  bool pin_ = true;
};

// CPUs this process may run on (its affinity mask), ascending.
std::vector<int> AllowedCpus();
// Gives the calling thread every CPU the process was allowed at start. A thread inherits its
// creator's affinity, and helpers (offload, history, the libraries' own threads they start) are
// created lazily from whichever shard first needs them: pinned to that one CPU they queued
// behind it, and behind each other. Every helper thread calls this first.
void UnpinHelperThread();
// Names the calling thread as `top -H`, `ps -L` and perf show it (the kernel keeps 15 bytes):
// "rf-shard-0", "rf-offload", "rf-hist-lookup", "rf-hist-bulk". RocksDB names its own.
void NameThread(const char* name);
// Parses "0-3,6,8-9" into a sorted list; an error names the bad part.
Result<std::vector<int>> ParseCpuList(std::string_view s);

}  // namespace rf::reactor
